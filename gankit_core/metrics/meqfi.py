"""MEQFI, "Measuring the Quality of the Features of an Image" (paper 002, section 5.1, Eq. 4).

Score(m_k) = 1 / (F - I) * sum_i alpha_i * P_i, with P_i = mark / scale, alpha_i = 0 for an ignored
feature (and 1 otherwise), F features and I of them ignored for that image. Several raters are
averaged per image; the total is the mean over images. Ratings come from the HTML sheet that
``gankit meqfi sheet`` writes, exported as CSV: ``rater,image,scale,<feature>...`` with a mark
1..scale or ``ignore`` per feature.
"""

from __future__ import annotations

import base64
import csv
import html
import json
from dataclasses import dataclass
from pathlib import Path

from gankit_core.errors import GankitError

DEFAULT_FEATURES = ("Nose", "Eyes", "Eyebrows", "Mouth", "Ears", "Teeth", "SkinTone")
IGNORE = "ignore"


def image_score(marks: dict[str, int | None], scale: int) -> float:
    """Eq. 4 for one rater and image: marks by feature, None for an ignored feature; in [0, 1]."""
    used = [mark for mark in marks.values() if mark is not None]
    if not used:
        raise GankitError("every feature of an image was ignored: Eq. 4 is undefined (F - I = 0)")
    for mark in used:
        if not 1 <= mark <= scale:
            raise GankitError(f"mark {mark} is outside 1..{scale}")
    return sum(mark / scale for mark in used) / len(used)


@dataclass
class MeqfiResult:
    images: dict[str, float]  # image -> score averaged over raters, in [0, 1]
    raters: list[str]
    total: float

    def as_dict(self) -> dict:
        return {"images": self.images, "raters": self.raters, "total": self.total}


def read_ratings(path: Path) -> list[dict[str, str]]:
    try:
        with Path(path).open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise GankitError(f"ratings file not found: {path}") from None
    except UnicodeDecodeError:
        raise GankitError(f"{path}: not a CSV text file (not UTF-8)") from None
    except (csv.Error, OSError) as error:
        raise GankitError(f"{path}: cannot read ({getattr(error, 'strerror', None) or error})") from None
    if not rows:
        raise GankitError(f"{path}: no ratings")
    for column in ("rater", "image", "scale"):
        if column not in rows[0]:
            raise GankitError(f"{path}: missing column '{column}' (expected rater,image,scale,<features>)")
    return rows


def score_ratings(rows: list[dict[str, str]], where: str = "ratings") -> MeqfiResult:
    """Per-image MEQFI averaged over raters, and the total (mean over images)."""
    per_image: dict[str, list[float]] = {}
    raters: list[str] = []
    for number, row in enumerate(rows, start=2):
        features = [k for k in row if k not in ("rater", "image", "scale")]
        try:
            scale = int(row["scale"])
            marks = {f: None if row[f].strip().lower() in (IGNORE, "") else int(row[f]) for f in features}
        except ValueError:
            raise GankitError(f"{where}, line {number}: marks must be whole numbers or '{IGNORE}'") from None
        try:
            score = image_score(marks, scale)
        except GankitError as error:
            raise GankitError(f"{where}, line {number}: {error}") from None
        per_image.setdefault(row["image"], []).append(score)
        if row["rater"] not in raters:
            raters.append(row["rater"])
    images = {name: sum(scores) / len(scores) for name, scores in per_image.items()}
    return MeqfiResult(images, raters, sum(images.values()) / len(images))


def _readable_images(paths: list[Path], root: Path) -> list[tuple[str, str, bytes]]:
    """(key, MIME type, bytes) of each image that decodes; a row is keyed by its path under ``root`` so that
    x/a.png and y/a.png stay two images. An unreadable file is skipped with one warning line."""
    import io
    import sys

    from PIL import Image, UnidentifiedImageError

    readable = []
    for path in paths:
        try:
            data = path.read_bytes()
            with Image.open(io.BytesIO(data)) as image:
                image.verify()  # a truncated or mislabelled file fails here, not as a broken picture in the page
                mime = Image.MIME.get(image.format or "", "application/octet-stream")
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            reason = getattr(error, "strerror", None) or str(error).splitlines()[0] or type(error).__name__
            print(f"warning: skipping unreadable image {path}: {reason}", file=sys.stderr)
            continue
        readable.append((path.relative_to(root).as_posix(), mime, data))
    if not readable:
        raise GankitError(f"none of the {len(paths)} image file(s) in {root} can be read")
    return readable


def write_sheet(images_dir: Path, output: Path, features: tuple[str, ...] = DEFAULT_FEATURES, scale: int = 5) -> int:
    """A self-contained HTML rating page for every image in ``images_dir``; returns how many images."""
    from gankit_core.data.folders import list_images

    if scale < 2:
        raise GankitError(f"--scale must be at least 2, not {scale}")
    if not features:
        raise GankitError("--features needs at least one feature")
    images_dir = Path(images_dir)
    images = _readable_images(list_images(images_dir, "images folder"), images_dir)
    options = "".join(f'<option value="{m}">{m}</option>' for m in range(1, scale + 1))
    options += f'<option value="{IGNORE}">{IGNORE}</option>'
    rows = []
    for key, mime, data in images:
        cells = "".join(f'<td><select data-feature="{html.escape(f)}"><option value="">-</option>{options}</select></td>'
                        for f in features)
        encoded = base64.b64encode(data).decode()
        rows.append(f'<tr data-image="{html.escape(key)}"><td><img src="data:{mime};base64,{encoded}"/>'
                    f'<br>{html.escape(key)}</td>{cells}</tr>')
    header = "".join(f"<th>{html.escape(f)}</th>" for f in features)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>MEQFI rating sheet</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:4px 10px;text-align:center}}
img{{width:128px;image-rendering:pixelated}}</style></head><body>
<h1>MEQFI rating sheet</h1>
<p>Mark each feature from 1 (failed) to {scale} (perfect), or <b>{IGNORE}</b> when the image does not show it
(no teeth without a smile, say). Then download the ratings and score them with
<code>gankit meqfi score ratings.csv</code> (paper 002, Eq. 4).</p>
<p>Rater: <input id="rater" value="rater1"> <button onclick="exportCsv()">Download ratings CSV</button></p>
<table><tr><th>image</th>{header}</tr>{''.join(rows)}</table>
<script>
const FEATURES = {json.dumps(list(features))};
const SCALE = {scale};
// An image's key is its path under the folder, which may hold a comma or a quote: CSV-quote it.
const quote = v => /[",\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v;
function exportCsv() {{
  const rater = document.getElementById('rater').value.replace(/[",\\n]/g, ' ');
  const lines = [['rater', 'image', 'scale'].concat(FEATURES).join(',')];
  for (const row of document.querySelectorAll('tr[data-image]')) {{
    const marks = FEATURES.map(f => row.querySelector(`select[data-feature="${{f}}"]`).value || '{IGNORE}');
    lines.push([rater, quote(row.dataset.image), SCALE].concat(marks).join(','));
  }}
  const blob = new Blob([lines.join('\\n') + '\\n'], {{type: 'text/csv'}});
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = 'ratings-' + rater + '.csv';
  link.click();
}}
</script></body></html>
"""
    from gankit_core.engine.checkpoint import write_atomic

    write_atomic(Path(output), page.encode())
    return len(images)
