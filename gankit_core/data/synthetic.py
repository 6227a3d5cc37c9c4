"""Procedurally drawn faces with exact ground truth: the built-in data every model trains on by default.

A face is a set of parameters: an identity (face shape and width, skin, hair colour and style, eye
colour and shape, brows, nose, mouth, ears, background) and an expression (one of the seven basic
ones, with an intensity) that moves the mouth, brows and eyes. Rendering is vectorised over a
batch of faces with anti-aliased signed distances, so it is fast and identical on every machine
for the same (seed, index, size). Landmarks come from the same geometry the renderer draws, so
they are exact; and because faces are parameters, the same identity with another expression or
with another identity's eyes or mouth can be rendered: ground truth no photo set has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EXPRESSIONS = ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger")
STYLES = ("photo", "cartoon")
RENDER_VERSION = 1  # bump when the drawing changes, so disk caches are not reused

# expression -> (mouth curve, mouth opening, brow raise, brow inner tilt, eye openness, mouth width factor)
_EXPRESSION_SHAPES = {
    "neutral": (0.0, 0.0, 0.0, 0.0, 1.0, 1.0),
    "happiness": (1.0, 0.35, 0.15, 0.0, 0.75, 1.18),
    "sadness": (-0.8, 0.0, 0.0, 0.9, 0.8, 0.95),
    "surprise": (0.0, 1.0, 1.0, 0.1, 1.45, 0.8),
    "fear": (-0.4, 0.55, 0.75, 0.7, 1.35, 1.05),
    "disgust": (-0.55, 0.12, -0.45, -0.35, 0.65, 0.95),
    "anger": (-0.45, 0.08, -0.6, -1.0, 0.9, 0.9),
}

_SKIN = np.array([[255, 224, 196], [241, 194, 160], [224, 172, 130], [198, 134, 96], [141, 85, 54], [96, 60, 40]], float)
_HAIR = np.array([[30, 24, 20], [70, 45, 25], [120, 80, 40], [190, 150, 90], [150, 60, 30], [120, 120, 120]], float)
_IRIS = np.array([[90, 60, 30], [60, 110, 170], [70, 130, 80], [110, 110, 120], [40, 30, 25]], float)
_LIPS = np.array([[200, 110, 110], [180, 90, 90], [160, 80, 85], [210, 130, 120]], float)


@dataclass(frozen=True)
class FaceParams:
    """Parameters of a batch of faces, in unit coordinates (the image is [0, 1] x [0, 1]); arrays of length N."""

    identity: np.ndarray
    expression: np.ndarray
    intensity: np.ndarray
    values: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.identity)


def identity_params(seed: int, identities: np.ndarray) -> dict[str, np.ndarray]:
    """The identity parameters of each identity id (deterministic per (seed, id))."""
    columns: dict[str, list] = {}
    for identity in np.asarray(identities).tolist():
        rng = np.random.default_rng([seed, 7919, int(identity)])
        values = {
            "face_cx": 0.5 + rng.uniform(-0.015, 0.015),
            "face_cy": 0.54 + rng.uniform(-0.015, 0.015),
            "face_rx": rng.uniform(0.245, 0.3),
            "face_ry": rng.uniform(0.31, 0.36),
            "face_power": rng.uniform(2.0, 3.0),  # superellipse exponent: 2 round, 3 square jaw
            "skin": _SKIN[rng.integers(len(_SKIN))] * rng.uniform(0.93, 1.05, 3),
            "hair": _HAIR[rng.integers(len(_HAIR))] * rng.uniform(0.9, 1.1, 3),
            "hair_style": float(rng.integers(3)),  # 0 short, 1 long, 2 fringe
            "hair_volume": rng.uniform(0.03, 0.07),
            "iris": _IRIS[rng.integers(len(_IRIS))],
            "eye_y": rng.uniform(0.455, 0.485),
            "eye_dx": rng.uniform(0.095, 0.115),
            "eye_w": rng.uniform(0.046, 0.058),
            "eye_h": rng.uniform(0.5, 0.68),  # height as a fraction of the width
            "brow_gap": rng.uniform(0.04, 0.06),
            "brow_thick": rng.uniform(0.011, 0.02),
            "brow_arch": rng.uniform(0.0, 0.018),
            "brow_len": rng.uniform(0.06, 0.08),
            "nose_len": rng.uniform(0.085, 0.115),
            "nose_w": rng.uniform(0.035, 0.055),
            "mouth_y": rng.uniform(0.69, 0.72),
            "mouth_w": rng.uniform(0.085, 0.115),
            "lip_u": rng.uniform(0.008, 0.014),
            "lip_l": rng.uniform(0.011, 0.018),
            "lips": _LIPS[rng.integers(len(_LIPS))],
            "bg_a": rng.uniform(40, 230, 3),
            "bg_b": rng.uniform(40, 230, 3),
            "bg_freq": rng.uniform(3, 9),
            "bg_phase": rng.uniform(0, 2 * np.pi),
        }
        for key, value in values.items():
            columns.setdefault(key, []).append(value)
    return {key: np.asarray(value, dtype=np.float64) for key, value in columns.items()}


def expression_params(expression: np.ndarray, intensity: np.ndarray) -> dict[str, np.ndarray]:
    shapes = np.array([_EXPRESSION_SHAPES[EXPRESSIONS[e]] for e in np.asarray(expression).tolist()], float)
    shapes = shapes.reshape(-1, 6)
    neutral = np.array(_EXPRESSION_SHAPES["neutral"])
    blended = neutral + (shapes - neutral) * np.asarray(intensity, float)[:, None]
    names = ("mouth_curve", "mouth_open", "brow_raise", "brow_tilt", "eye_open", "mouth_scale")
    return {name: blended[:, i] for i, name in enumerate(names)}


def face_params(seed: int, identity, expression, intensity) -> FaceParams:
    identity = np.atleast_1d(np.asarray(identity, dtype=np.int64))
    expression = np.atleast_1d(np.asarray(expression, dtype=np.int64))
    intensity = np.atleast_1d(np.asarray(intensity, dtype=np.float64))
    values = {**identity_params(seed, identity), **expression_params(expression, intensity)}
    return FaceParams(identity, expression, intensity, values)


EYE_KEYS = ("iris", "eye_w", "eye_h", "brow_thick", "brow_arch", "brow_len", "brow_gap")
MOUTH_KEYS = ("mouth_w", "lip_u", "lip_l", "lips")


def swap_region(target: FaceParams, donor: FaceParams, region: str) -> FaceParams:
    """``target``'s faces with ``donor``'s eyes (iris, shape, brows) or mouth (shape, lips): the true exchange."""
    keys = {"eyes": EYE_KEYS, "mouth": MOUTH_KEYS}[region]
    values = dict(target.values)
    for key in keys:
        values[key] = donor.values[key].copy()
    return FaceParams(target.identity, target.expression, target.intensity, values)


# ---------------------------------------------------------------------------------------- geometry
def _superellipse_point(cx, cy, rx, ry, power, angle):
    c, s = np.cos(angle), np.sin(angle)
    return (cx + rx * np.sign(c) * np.abs(c) ** (2 / power), cy + ry * np.sign(s) * np.abs(s) ** (2 / power))


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


def landmarks(params: FaceParams, size: int) -> np.ndarray:
    """The exact 68 landmarks (N x 68 x 2, pixels, dlib order) of the faces as rendered at ``size``."""
    v = params.values
    n = len(params)
    points = np.zeros((n, 68, 2))
    # jaw: the lower part of the face outline, from the image-left side at eye level round the chin
    angles = np.pi + 0.12 - np.arange(17) * (np.pi + 0.24) / 16
    jx, jy = _superellipse_point(v["face_cx"][:, None], v["face_cy"][:, None], v["face_rx"][:, None],
                                 v["face_ry"][:, None], v["face_power"][:, None], angles[None, :])
    points[:, 0:17] = np.stack([jx, jy], -1)
    t = np.linspace(0, 1, 5)[None, :]
    bx, by = _brow_points(v, -1.0, t)  # 17-21: image-left brow from outer to inner
    points[:, 17:22] = np.stack([bx, by], -1)[:, ::-1]
    bx, by = _brow_points(v, 1.0, t)  # 22-26: image-right brow from inner to outer
    points[:, 22:27] = np.stack([bx, by], -1)
    nose_top = v["eye_y"] - 0.01
    for i in range(4):  # 27-30 the bridge, top to tip
        points[:, 27 + i] = np.stack([v["face_cx"], nose_top + v["nose_len"] * i / 3], -1)
    base_y = nose_top + v["nose_len"] + 0.012
    for i, dx in enumerate((-1.0, -0.5, 0.0, 0.5, 1.0)):  # 31-35 nostril base, left to right
        lift = 0.008 * abs(dx)
        points[:, 31 + i] = np.stack([v["face_cx"] + dx * v["nose_w"] / 2, base_y - lift], -1)
    for side, first in ((-1.0, 36), (1.0, 42)):
        ex, ey, hw, hh = _eye_geometry(v, side)
        # dlib order: 36 outer, 37-38 top, 39 inner, 40-41 bottom (mirrored for 42-47: inner first)
        xs = np.array([-1, -0.5, 0.5, 1, 0.5, -0.5])
        ys = np.array([0, -1, -1, 0, 1, 1]) * np.sqrt(1 - xs**2)
        points[:, first : first + 6, 0] = ex[:, None] + xs[None, :] * hw[:, None]
        points[:, first : first + 6, 1] = ey[:, None] + ys[None, :] * hh[:, None]
    width = (v["mouth_w"] * v["mouth_scale"])[:, None]
    outer_t = np.array([-1, -2 / 3, -1 / 3, 0, 1 / 3, 2 / 3, 1, 2 / 3, 1 / 3, 0, -1 / 3, -2 / 3])
    uo, ui, li, lo = _mouth_curves(v, outer_t[None, :])
    outer_y = np.where(np.arange(12)[None, :] <= 6, uo, lo)
    outer_y[:, 0], outer_y[:, 6] = (uo[:, 0] + lo[:, 0]) / 2, (uo[:, 6] + lo[:, 6]) / 2
    points[:, 48:60] = np.stack([v["face_cx"][:, None] + outer_t[None, :] * width / 2, outer_y], -1)
    inner_t = np.array([-0.85, -0.5, 0, 0.5, 0.85, 0.5, 0, -0.5])
    uo, ui, li, lo = _mouth_curves(v, inner_t[None, :])
    inner_y = np.where(np.arange(8)[None, :] <= 4, ui, li)
    inner_y[:, 0], inner_y[:, 4] = (ui[:, 0] + li[:, 0]) / 2, (ui[:, 4] + li[:, 4]) / 2
    points[:, 60:68] = np.stack([v["face_cx"][:, None] + inner_t[None, :] * width / 2, inner_y], -1)
    return points * size


# ----------------------------------------------------------------------------------------- drawing
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


# ------------------------------------------------------------------------------------ ground truth
def render_faces(seed: int, identity, expression, intensity, size: int, style: str = "photo",
                 noise_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images (N x size x size x 3 uint8) and their exact landmarks (N x 68 x 2) for the given faces."""
    params = face_params(seed, identity, expression, intensity)
    return render(params, size, style, noise_seed), landmarks(params, size)


def with_expression(seed: int, identity, expression, size: int, style: str = "photo", intensity=1.0,
                    noise_seed: int = 0) -> np.ndarray:
    """The same identities rendered with another expression: the target of expression transfer."""
    identity = np.atleast_1d(identity)
    intensity = np.broadcast_to(np.asarray(intensity, float), identity.shape)
    expression = np.broadcast_to(np.asarray(expression), identity.shape)
    return render_faces(seed, identity, expression, intensity, size, style, noise_seed)[0]


def true_exchange(seed: int, target: tuple, donor: tuple, region: str, size: int, style: str = "photo",
                  noise_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Faces ``target`` = (identity, expression, intensity) rendered with ``donor``'s eyes or mouth:
    the true result of a region exchange. Returns images and landmarks."""
    if region not in ("eyes", "mouth"):
        raise ValueError(f"region must be 'eyes' or 'mouth', not {region!r}")
    swapped = swap_region(face_params(seed, *target), face_params(seed, *donor), region)
    return render(swapped, size, style, noise_seed), landmarks(swapped, size)
