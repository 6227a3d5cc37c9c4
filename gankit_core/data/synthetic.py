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

import math
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
    # each identity drawn once, however many of its faces the batch holds (a set has several per identity)
    unique, faces = np.unique(np.asarray(identities).ravel(), return_inverse=True)
    columns: dict[str, list] = {}
    for identity in unique.tolist():
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
    return {key: np.asarray(value, dtype=np.float64)[faces.ravel()] for key, value in columns.items()}


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
# Each shape is computed and painted only inside its window: the rows and columns where its coverage can be
# above zero for some face of the batch. Outside the window the coverage is exactly 0 and the blend would leave
# the canvas as it is, so windows change no pixel (tests/test_synthetic_render.py holds the renderer to the one
# before them, pixel for pixel); they skip the work, since most shapes cover a few percent of the image.
PIXELS_PER_BATCH = 1 << 18  # faces drawn together: few enough that each shape's arrays stay in the CPU's cache


def _cover(distance: np.ndarray, pixel: float) -> np.ndarray:
    """Anti-aliased coverage of a shape from its signed distance (negative inside), in unit coordinates."""
    return np.clip(0.5 - distance / pixel, 0.0, 1.0)


def _ellipse_distance(x, y, cx, cy, rx, ry):
    """Approximate signed distance to an ellipse (exact for circles), broadcasting N x 1 x 1 parameters."""
    q = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
    return (q - 1) * np.minimum(rx, ry)


def _ellipse_box(cx, cy, rx, ry, reach):
    """(left, top, right, bottom) around the points closer than ``reach`` to the ellipse or inside it, by
    ``_ellipse_distance``: there (q - 1) * min(rx, ry) < reach, so |x - cx| < rx * (1 + reach / min(rx, ry)).
    The same box holds the superellipse of the face, whose q is never below the larger of |x - cx| / rx and
    |y - cy| / ry."""
    grow = 1 + reach / np.minimum(rx, ry)
    return cx - rx * grow, cy - ry * grow, cx + rx * grow, cy + ry * grow


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


def _polyline_box(px, py, reach):
    """(left, top, right, bottom) around the points closer than ``reach`` to a polyline with vertices (px, py)."""
    return px.min(1) - reach, py.min(1) - reach, px.max(1) + reach, py.max(1) + reach


@dataclass(frozen=True)
class _Window:
    """The part of the canvas a shape can touch: its rows and columns, and their pixel-centre coordinates."""

    rows: slice
    cols: slice
    x: np.ndarray  # 1 x 1 x w
    y: np.ndarray  # 1 x h x 1


class _Canvas:
    """A batch of faces being drawn: float32 pixels (N x H x W x 3) and the windows shapes are painted in."""

    def __init__(self, pixels: np.ndarray, coords: np.ndarray) -> None:
        self.pixels = pixels
        self.size = pixels.shape[1]
        self.coords = coords  # the pixel centres along a row or column, in unit coordinates

    def _span(self, low, high) -> slice:
        # a pixel beyond the box on each side, so float rounding in the box can never cut a covered pixel off
        start = max(math.floor(float(np.min(low)) * self.size - 0.5) - 1, 0)
        stop = min(math.ceil(float(np.max(high)) * self.size - 0.5) + 2, self.size)
        return slice(start, max(start, stop))

    def window(self, left, top, right, bottom) -> _Window:
        """The window holding every face's box (unit coordinates; arrays over the batch or numbers)."""
        rows, cols = self._span(top, bottom), self._span(left, right)
        return _Window(rows, cols, self.coords[cols][None, None, :], self.coords[rows][None, :, None])

    def paint(self, window: _Window, coverage: np.ndarray, colour) -> None:
        """Blend ``colour`` (N x 3, or N x h x w x 3 over the window) in by ``coverage`` (N x h x w)."""
        colour = np.asarray(colour, dtype=np.float32)
        if colour.ndim == 2:
            colour = colour[:, None, None, :]
        pixels = self.pixels[:, window.rows, window.cols]
        change = colour - pixels
        # the product in place where it keeps float32, so the result is the same as coverage * change
        pixels += np.multiply(coverage[..., None], change, out=change if coverage.dtype == change.dtype else None)


def render(params: FaceParams, size: int, style: str = "photo", noise_seed: int = 0) -> np.ndarray:
    """Render faces as uint8 images, N x size x size x 3."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; styles are {', '.join(STYLES)}")
    # float32 throughout: half the memory traffic of float64, and plenty for 8-bit output
    values = {k: a.astype(np.float32) for k, a in params.values.items()}
    n = len(params)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    # sensor noise, seeded so renders stay deterministic: one stream over the whole call, drawn batch after
    # batch in face order, so each face gets the same noise however the call is split into batches
    noise = np.random.default_rng([noise_seed, size]) if style == "photo" else None
    per_batch = max(1, PIXELS_PER_BATCH // (size * size))
    for start in range(0, n, per_batch):
        part = slice(start, min(start + per_batch, n))
        canvas = _draw({k: a[part] for k, a in values.items()}, size, style == "photo")
        if noise is not None:
            canvas += noise.normal(0.0, 3.0, canvas.shape).astype(np.float32)
        images[part] = np.clip(canvas + 0.5, 0, 255).astype(np.uint8)
    return images


def _draw(values: dict[str, np.ndarray], size: int, photo: bool) -> np.ndarray:
    """The float32 canvas (N x size x size x 3) of faces with float32 parameter ``values``, before the noise."""
    v = {k: (a[:, None, None] if a.ndim == 1 else a) for k, a in values.items()}
    n = len(values["face_cx"])
    pixel = np.float32(1.0 / size)
    coords = ((np.arange(size) + 0.5) / size).astype(np.float32)
    x, y = coords[None, None, :], coords[None, :, None]
    outline = 1.6 * pixel if not photo else 0.0
    ink = np.zeros((n, 3)) + 25.0
    reach = pixel + outline  # how far outside a shape its fill or outline can still cover a pixel

    # background: a vertical gradient (one value per row, copied across); photos add a soft texture
    mix = y[..., None]
    top, bottom = values["bg_a"][:, None, None, :], values["bg_b"][:, None, None, :]
    pixels = top * (1 - mix) + bottom * mix
    pixels = np.broadcast_to(pixels, (n, size, size, 3)).astype(np.float32)
    if photo:
        wave = np.sin(x * v["bg_freq"] * 6.28 + v["bg_phase"]) * np.cos(y * v["bg_freq"] * 4.1 - v["bg_phase"])
        pixels += 12.0 * wave[..., None]
    else:
        pixels = pixels * 0.5 + 0.5 * (top + bottom) / 2  # flatter background
    canvas = _Canvas(pixels, coords)

    cx, cy, rx, ry, power = v["face_cx"], v["face_cy"], v["face_rx"], v["face_ry"], v["face_power"]
    skin, hair = values["skin"], values["hair"]
    style_id = values["hair_style"][:, None, None]
    volume = v["hair_volume"]

    # hair behind the head (long style reaches the shoulders)
    back_box = _ellipse_box(cx, cy - 0.03, rx + volume, ry + volume * 0.8, reach)
    long_box = _ellipse_box(cx, cy + 0.12, rx + volume + 0.02, ry + 0.1, reach)
    long_box = tuple(np.where(style_id == 1, a, b) for a, b in zip(long_box, back_box, strict=True))
    w = canvas.window(np.minimum(back_box[0], long_box[0]), np.minimum(back_box[1], long_box[1]),
                      np.maximum(back_box[2], long_box[2]), np.maximum(back_box[3], long_box[3]))
    back = _ellipse_distance(w.x, w.y, cx, cy - 0.03, rx + volume, ry + volume * 0.8)
    long_hair = np.maximum(_ellipse_distance(w.x, w.y, cx, cy + 0.12, rx + volume + 0.02, ry + 0.1), -(w.y - cy))
    back = np.where(style_id == 1, np.minimum(back, long_hair), back)
    canvas.paint(w, _cover(back, pixel), hair * (0.8 if photo else 1.0))
    if outline:
        canvas.paint(w, _cover(np.abs(back) - outline, pixel), ink)

    # neck and ears
    w = canvas.window(cx - rx * 0.42 - reach, cy + ry * 0.5 - reach, cx + rx * 0.42 + reach, 1.0)
    neck = np.maximum(np.abs(w.x - cx) - rx * 0.42, cy + ry * 0.5 - w.y)
    canvas.paint(w, _cover(neck, pixel), skin * (0.82 if photo else 0.9))
    for side in (-1.0, 1.0):
        w = canvas.window(*_ellipse_box(cx + side * rx * 0.97, v["eye_y"] + 0.035, 0.032, 0.058, reach))
        ear = _ellipse_distance(w.x, w.y, cx + side * rx * 0.97, v["eye_y"] + 0.035, 0.032, 0.058)
        canvas.paint(w, _cover(ear, pixel), skin * 0.93)
        if outline:
            canvas.paint(w, _cover(np.abs(ear) - outline, pixel), ink)

    # face: a superellipse; photos shade it from an upper-left light
    w = canvas.window(*_ellipse_box(cx, cy, rx, ry, reach))
    q = (np.abs((w.x - cx) / rx) ** power + np.abs((w.y - cy) / ry) ** power) ** (1 / power)
    face = (q - 1) * np.minimum(rx, ry)
    if photo:
        light = 1.06 - 0.28 * np.clip(np.hypot(w.x - (cx - rx * 0.35), w.y - (cy - ry * 0.4)) / (rx * 2.2), 0, 1)
        face_colour = skin[:, None, None, :] * light[..., None]
        rim = np.clip(-face / (rx * 0.25), 0, 1)[..., None]  # darker towards the outline
        face_colour = face_colour * (0.85 + 0.15 * rim)
    else:
        face_colour = skin
    canvas.paint(w, _cover(face, pixel), face_colour)
    if outline:
        canvas.paint(w, _cover(np.abs(face) - outline, pixel), ink)

    # hair on top of the head: inside the hair outline and above a hairline (which the window stops below: the
    # hairline's wave or curve reaches at most 0.012, or 0.05 (x - cx)^2 / rx^2 with x inside the outline's box)
    left, up, right, down = _ellipse_box(cx, cy - 0.03, rx + volume * 0.6, ry + volume * 0.5, reach)
    curve = 0.05 * ((right - cx) / rx) ** 2
    lowest_hairline = cy - ry * np.where(style_id == 2, 0.45, 0.62) + np.where(style_id == 2, 0.012, curve)
    w = canvas.window(left, up, right, np.minimum(down, lowest_hairline + reach))
    hairline_y = cy - ry * np.where(style_id == 2, 0.45, 0.62) + np.where(
        style_id == 2, 0.012 * np.sin((w.x - cx) * 90), 0.05 * ((w.x - cx) / rx) ** 2
    )
    top_hair = np.maximum(_ellipse_distance(w.x, w.y, cx, cy - 0.03, rx + volume * 0.6, ry + volume * 0.5),
                          w.y - hairline_y)
    canvas.paint(w, _cover(top_hair, pixel), hair)
    if outline:
        canvas.paint(w, _cover(np.abs(top_hair) - outline, pixel), ink)

    # brows
    t = np.linspace(0, 1, 9)[None, :]
    for side in (-1.0, 1.0):
        bx, by = _brow_points(values, side, t)
        w = canvas.window(*_polyline_box(bx, by, values["brow_thick"] / 2 + reach))
        brow = _polyline_distance(w.x, w.y, bx, by) - v["brow_thick"] / 2
        canvas.paint(w, _cover(brow, pixel), hair * 0.7)

    # eyes: sclera, iris and pupil clipped to the eye opening, lids
    lid_width = 0.5 * pixel if photo else outline * 0.7
    for side in (-1.0, 1.0):
        ex, ey, hw, hh = (a[:, None, None] for a in _eye_geometry(values, side))
        w = canvas.window(*_ellipse_box(ex, ey, hw, np.maximum(hh, 1e-4), reach + lid_width))
        sclera = _ellipse_distance(w.x, w.y, ex, ey, hw, np.maximum(hh, 1e-4))
        canvas.paint(w, _cover(sclera, pixel), np.zeros((n, 3)) + 245)
        iris_r = hw * 0.55
        iris = np.maximum(_ellipse_distance(w.x, w.y, ex, ey, iris_r, iris_r), sclera)
        canvas.paint(w, _cover(iris, pixel), values["iris"])
        pupil = np.maximum(_ellipse_distance(w.x, w.y, ex, ey, iris_r * 0.45, iris_r * 0.45), sclera)
        canvas.paint(w, _cover(pupil, pixel), np.zeros((n, 3)) + 15)
        if photo:
            glint = _ellipse_distance(w.x, w.y, ex - iris_r * 0.3, ey - iris_r * 0.3, iris_r * 0.2, iris_r * 0.2)
            canvas.paint(w, _cover(np.maximum(glint, sclera), pixel) * 0.8, np.zeros((n, 3)) + 255)
        lid = np.abs(sclera) - lid_width
        canvas.paint(w, _cover(lid, pixel) * (0.6 if photo else 1.0), ink * (1.6 if photo else 1.0))

    # nose: a shaded bridge and the nostrils
    nose_top = v["eye_y"] - 0.01
    tip_y = nose_top + v["nose_len"]
    bridge_x = np.stack([values["face_cx"] + 0.006] * 2, 1)
    bridge_y = np.stack([values["eye_y"] + 0.01, values["eye_y"] - 0.01 + values["nose_len"]], 1)
    bridge_width = 0.004 if photo else 0.6 * pixel
    w = canvas.window(*_polyline_box(bridge_x, bridge_y, bridge_width + reach))
    bridge = _polyline_distance(w.x, w.y, bridge_x, bridge_y) - bridge_width
    canvas.paint(w, _cover(bridge, pixel) * (0.35 if photo else 1.0), skin * 0.55 if photo else ink)
    for side in (-1.0, 1.0):
        nostril_shape = (cx + side * v["nose_w"] * 0.28, tip_y + 0.008, v["nose_w"] * 0.16, 0.007)
        w = canvas.window(*_ellipse_box(*nostril_shape, reach))
        nostril = _ellipse_distance(w.x, w.y, *nostril_shape)
        canvas.paint(w, _cover(nostril, pixel) * 0.8, skin * 0.45)
    if photo:
        tip_shape = (cx, tip_y - 0.004, v["nose_w"] * 0.35, 0.012)
        w = canvas.window(*_ellipse_box(*tip_shape, reach))
        tip = _ellipse_distance(w.x, w.y, *tip_shape)
        canvas.paint(w, _cover(tip, pixel) * 0.25, np.minimum(skin * 1.2, 255))

    # mouth: lips between the outer curves, a dark opening with teeth between the inner ones. The columns
    # come from its width; the rows from its curves, computed over those columns first.
    width = v["mouth_w"] * v["mouth_scale"]
    lip_reach = reach + outline * 0.7
    columns = canvas.window(cx - width / 2 - lip_reach, 0.0, cx + width / 2 + lip_reach, 1.0)
    t = np.clip((columns.x - cx) / (width / 2), -1.5, 1.5)
    inside_x = np.abs(t) <= 1
    curves = _mouth_curves(values, t.reshape(n, -1))
    uo, ui, li, lo = (c.reshape(n, 1, -1) for c in curves)
    w = canvas.window(cx - width / 2 - lip_reach, uo.min() - lip_reach, cx + width / 2 + lip_reach,
                      lo.max() + lip_reach)
    horizontal = (np.abs(w.x - cx) - width / 2)
    lips = np.maximum(np.maximum(uo - w.y, w.y - lo), horizontal)
    canvas.paint(w, _cover(lips, pixel) * inside_x, values["lips"])
    opening = np.maximum(np.maximum(ui - w.y, w.y - li), horizontal)
    canvas.paint(w, _cover(opening, pixel) * inside_x, np.zeros((n, 3)) + 60)
    teeth = np.maximum(opening, w.y - (ui + (li - ui) * 0.4))
    canvas.paint(w, _cover(teeth, pixel) * inside_x, np.zeros((n, 3)) + 235)
    if outline:
        canvas.paint(w, _cover(np.abs(lips) - outline * 0.7, pixel) * inside_x, ink)
    return canvas.pixels


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
