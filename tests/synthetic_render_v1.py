"""The synthetic-face renderer as it was at RENDER_VERSION 1 (gankit_core/data/synthetic.py before it drew each
shape only in its window), kept verbatim as the oracle the faster renderer must match pixel for pixel: rendered
sets cached on disk, and every figure the docs give, were made with it. Bump RENDER_VERSION (and replace this
file) only when the drawing is meant to change."""
# ruff: noqa

from __future__ import annotations

import numpy as np
from gankit_core.data.synthetic import STYLES, FaceParams


def _mouth_curves(v: dict[str, np.ndarray], t: np.ndarray):
    """Upper outer, upper inner, lower inner, lower outer lip curves at positions t in [-1, 1] (broadcast)."""
    curve = v["mouth_curve"][:, None]
    opening = v["mouth_open"][:, None] * 0.055 * np.clip(1 - t**2, 0, 1) ** 0.7
    centre = v["mouth_y"][:, None] - curve * 0.028 * t**2 + curve * 0.006
    taper = np.sqrt(np.clip(1 - t**2, 0, 1))
    upper_inner = centre - opening * 0.35
    lower_inner = centre + opening * 0.65
    upper_outer = upper_inner - v["lip_u"][:, None] * taper * (1 - 0.35 * np.exp(-((t * 5) ** 2)))
    lower_outer = lower_inner + v["lip_l"][:, None] * taper
    return upper_outer, upper_inner, lower_inner, lower_outer


def _brow_points(v: dict[str, np.ndarray], side: float, t: np.ndarray):
    """Points along a brow from its inner (t=0) to outer (t=1) end; side -1 image-left, +1 image-right."""
    cx = v["face_cx"][:, None]
    inner_x = cx + side * (v["eye_dx"][:, None] - v["brow_len"][:, None] * 0.45)
    x = inner_x + side * v["brow_len"][:, None] * t
    base = v["eye_y"][:, None] - v["brow_gap"][:, None] - v["brow_raise"][:, None] * 0.025
    y = base - v["brow_arch"][:, None] * 4 * t * (1 - t) - v["brow_tilt"][:, None] * 0.018 * (1 - t)
    return x, y


def _eye_geometry(v: dict[str, np.ndarray], side: float):
    cx = v["face_cx"] + side * v["eye_dx"]
    half_w = v["eye_w"]
    half_h = v["eye_w"] * v["eye_h"] * v["eye_open"] * 0.75
    return cx, v["eye_y"], half_w, half_h


def _cover(distance: np.ndarray, pixel: float) -> np.ndarray:
    """Anti-aliased coverage of a shape from its signed distance (negative inside), in unit coordinates."""
    return np.clip(0.5 - distance / pixel, 0.0, 1.0)


def _ellipse_distance(x, y, cx, cy, rx, ry):
    """Approximate signed distance to an ellipse (exact for circles), broadcasting N x 1 x 1 parameters."""
    q = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
    return (q - 1) * np.minimum(rx, ry)


def _polyline_distance(x, y, px, py):
    """Distance from pixels to a polyline with vertices (px, py): N x K each; returns N x H x W."""
    best = None
    for k in range(px.shape[1] - 1):
        ax, ay = px[:, k, None, None], py[:, k, None, None]
        dx, dy = px[:, k + 1, None, None] - ax, py[:, k + 1, None, None] - ay
        t = np.clip(((x - ax) * dx + (y - ay) * dy) / np.maximum(dx**2 + dy**2, 1e-12), 0, 1)
        d = np.hypot(x - ax - t * dx, y - ay - t * dy)
        best = d if best is None else np.minimum(best, d)
    return best


def _paint(canvas: np.ndarray, coverage: np.ndarray, colour) -> None:
    """canvas (N x H x W x 3) <- coverage-weighted blend with colour (N x 3 or N x H x W x 3)."""
    colour = np.asarray(colour, dtype=np.float32)
    if colour.ndim == 2:
        colour = colour[:, None, None, :]
    canvas += coverage[..., None] * (colour - canvas)


def render(params: FaceParams, size: int, style: str = "photo", noise_seed: int = 0) -> np.ndarray:
    """Render faces as uint8 images, N x size x size x 3."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; styles are {', '.join(STYLES)}")
    # float32 throughout: half the memory traffic of float64, and plenty for 8-bit output
    params = FaceParams(params.identity, params.expression, params.intensity,
                        {k: a.astype(np.float32) for k, a in params.values.items()})
    v = {k: (a[:, None, None] if a.ndim == 1 else a) for k, a in params.values.items()}
    n = len(params)
    pixel = np.float32(1.0 / size)
    coords = ((np.arange(size) + 0.5) / size).astype(np.float32)
    x, y = coords[None, None, :], coords[None, :, None]
    photo = style == "photo"
    outline = 1.6 * pixel if not photo else 0.0
    ink = np.zeros((n, 3)) + 25.0

    # background: a vertical gradient; photos add a soft texture
    mix = np.broadcast_to(y, (1, size, size))[..., None]
    top, bottom = params.values["bg_a"][:, None, None, :], params.values["bg_b"][:, None, None, :]
    canvas = top * (1 - mix) + bottom * mix
    canvas = np.broadcast_to(canvas, (n, size, size, 3)).astype(np.float32)
    if photo:
        wave = np.sin(x * v["bg_freq"] * 6.28 + v["bg_phase"]) * np.cos(y * v["bg_freq"] * 4.1 - v["bg_phase"])
        canvas += 12.0 * wave[..., None]
    else:
        canvas = canvas * 0.5 + 0.5 * (top + bottom) / 2  # flatter background

    cx, cy, rx, ry, power = v["face_cx"], v["face_cy"], v["face_rx"], v["face_ry"], v["face_power"]
    skin, hair = params.values["skin"], params.values["hair"]
    style_id = params.values["hair_style"][:, None, None]
    volume = v["hair_volume"]

    # hair behind the head (long style reaches the shoulders)
    back = _ellipse_distance(x, y, cx, cy - 0.03, rx + volume, ry + volume * 0.8)
    long_hair = np.maximum(_ellipse_distance(x, y, cx, cy + 0.12, rx + volume + 0.02, ry + 0.1), -(y - cy))
    back = np.where(style_id == 1, np.minimum(back, long_hair), back)
    _paint(canvas, _cover(back, pixel), hair * (0.8 if photo else 1.0))
    if outline:
        _paint(canvas, _cover(np.abs(back) - outline, pixel), ink)

    # neck and ears
    neck = np.maximum(np.abs(x - cx) - rx * 0.42, cy + ry * 0.5 - y)
    _paint(canvas, _cover(neck, pixel), skin * (0.82 if photo else 0.9))
    for side in (-1.0, 1.0):
        ear = _ellipse_distance(x, y, cx + side * rx * 0.97, v["eye_y"] + 0.035, 0.032, 0.058)
        _paint(canvas, _cover(ear, pixel), skin * 0.93)
        if outline:
            _paint(canvas, _cover(np.abs(ear) - outline, pixel), ink)

    # face: a superellipse; photos shade it from an upper-left light
    q = (np.abs((x - cx) / rx) ** power + np.abs((y - cy) / ry) ** power) ** (1 / power)
    face = (q - 1) * np.minimum(rx, ry)
    if photo:
        light = 1.06 - 0.28 * np.clip(np.hypot(x - (cx - rx * 0.35), y - (cy - ry * 0.4)) / (rx * 2.2), 0, 1)
        face_colour = skin[:, None, None, :] * light[..., None]
        rim = np.clip(-face / (rx * 0.25), 0, 1)[..., None]  # darker towards the outline
        face_colour = face_colour * (0.85 + 0.15 * rim)
    else:
        face_colour = skin
    _paint(canvas, _cover(face, pixel), face_colour)
    if outline:
        _paint(canvas, _cover(np.abs(face) - outline, pixel), ink)

    # hair on top of the head: inside the hair outline and above a hairline
    hairline_y = cy - ry * np.where(style_id == 2, 0.45, 0.62) + np.where(
        style_id == 2, 0.012 * np.sin((x - cx) * 90), 0.05 * ((x - cx) / rx) ** 2
    )
    top_hair = np.maximum(_ellipse_distance(x, y, cx, cy - 0.03, rx + volume * 0.6, ry + volume * 0.5), y - hairline_y)
    _paint(canvas, _cover(top_hair, pixel), hair)
    if outline:
        _paint(canvas, _cover(np.abs(top_hair) - outline, pixel), ink)

    # brows
    t = np.linspace(0, 1, 9)[None, :]
    for side in (-1.0, 1.0):
        bx, by = _brow_points(params.values, side, t)
        brow = _polyline_distance(x, y, bx, by) - v["brow_thick"] / 2
        _paint(canvas, _cover(brow, pixel), hair * 0.7)

    # eyes: sclera, iris and pupil clipped to the eye opening, lids
    for side in (-1.0, 1.0):
        ex, ey, hw, hh = (a[:, None, None] for a in _eye_geometry(params.values, side))
        sclera = _ellipse_distance(x, y, ex, ey, hw, np.maximum(hh, 1e-4))
        _paint(canvas, _cover(sclera, pixel), np.zeros((n, 3)) + 245)
        iris_r = hw * 0.55
        iris = np.maximum(_ellipse_distance(x, y, ex, ey, iris_r, iris_r), sclera)
        _paint(canvas, _cover(iris, pixel), params.values["iris"])
        pupil = np.maximum(_ellipse_distance(x, y, ex, ey, iris_r * 0.45, iris_r * 0.45), sclera)
        _paint(canvas, _cover(pupil, pixel), np.zeros((n, 3)) + 15)
        if photo:
            glint = _ellipse_distance(x, y, ex - iris_r * 0.3, ey - iris_r * 0.3, iris_r * 0.2, iris_r * 0.2)
            _paint(canvas, _cover(np.maximum(glint, sclera), pixel) * 0.8, np.zeros((n, 3)) + 255)
        lid = np.abs(sclera) - (0.5 * pixel if photo else outline * 0.7)
        _paint(canvas, _cover(lid, pixel) * (0.6 if photo else 1.0), ink * (1.6 if photo else 1.0))

    # nose: a shaded bridge and the nostrils
    nose_top = v["eye_y"] - 0.01
    tip_y = nose_top + v["nose_len"]
    bridge = _polyline_distance(
        x, y, np.stack([params.values["face_cx"] + 0.006] * 2, 1),
        np.stack([params.values["eye_y"] + 0.01, params.values["eye_y"] - 0.01 + params.values["nose_len"]], 1),
    ) - (0.004 if photo else 0.6 * pixel)
    _paint(canvas, _cover(bridge, pixel) * (0.35 if photo else 1.0), skin * 0.55 if photo else ink)
    for side in (-1.0, 1.0):
        nostril = _ellipse_distance(x, y, cx + side * v["nose_w"] * 0.28, tip_y + 0.008, v["nose_w"] * 0.16, 0.007)
        _paint(canvas, _cover(nostril, pixel) * 0.8, skin * 0.45)
    if photo:
        tip = _ellipse_distance(x, y, cx, tip_y - 0.004, v["nose_w"] * 0.35, 0.012)
        _paint(canvas, _cover(tip, pixel) * 0.25, np.minimum(skin * 1.2, 255))

    # mouth: lips between the outer curves, a dark opening with teeth between the inner ones
    width = v["mouth_w"] * v["mouth_scale"]
    t = np.clip((x - cx) / (width / 2), -1.5, 1.5)
    inside_x = np.abs(t) <= 1
    curves = _mouth_curves({k: a[:, 0, 0] for k, a in v.items() if a.ndim == 3}, t.reshape(n, size))
    uo, ui, li, lo = (c.reshape(n, 1, size) for c in curves)
    horizontal = (np.abs(x - cx) - width / 2)
    lips = np.maximum(np.maximum(uo - y, y - lo), horizontal)
    _paint(canvas, _cover(lips, pixel) * inside_x, params.values["lips"])
    opening = np.maximum(np.maximum(ui - y, y - li), horizontal)
    _paint(canvas, _cover(opening, pixel) * inside_x, np.zeros((n, 3)) + 60)
    teeth = np.maximum(opening, y - (ui + (li - ui) * 0.4))
    _paint(canvas, _cover(teeth, pixel) * inside_x, np.zeros((n, 3)) + 235)
    if outline:
        _paint(canvas, _cover(np.abs(lips) - outline * 0.7, pixel) * inside_x, ink)

    if photo:  # sensor noise, seeded so renders stay deterministic
        rng = np.random.default_rng([noise_seed, size])
        canvas += rng.normal(0.0, 3.0, canvas.shape).astype(np.float32)
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)


