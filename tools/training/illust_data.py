"""Data for the Illust Only classifier: listing images by class and source, label corrections, the exact
evaluation preprocessing, training augmentations, and k-fold splits over whole sources.

Why one module: training, export, tests and evaluation must agree on every detail (which label a file
has, which fold holds a source, how pixels become a tensor), so they all import these functions.

Data layout (see the data folder's README.md): <data>/<class>/<source>/<file>.jpg, plus manifest.tsv
naming each file's repository. Sources from one repository owner (renpy's art and renpy's screenshots;
the aagl-* launchers, six repositories of one team) are grouped so they always land in the same fold:
validation never sees a near-duplicate, or the same author's style and tooling, from training.
"""
from __future__ import annotations

import csv
import io
import json
import os
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

REPO_ROOT = Path(__file__).resolve().parents[2]
LABELS = ("illustration", "screenshot", "photo")
CONTRACT_PATH = REPO_ROOT / "model" / "contract.json"
LABEL_CORRECTIONS_PATH = REPO_ROOT / "model" / "label-corrections.tsv"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp"}
# X/Twitter's `name=small` media variant is at most 680 px on its longest side: train on such sizes too.
X_SMALL_LONGEST_SIDE = 680


def default_data_dir() -> Path:
    return Path(os.environ.get("ILLUST_ONLY_DATA", REPO_ROOT.parent / "shared" / "data"))


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int          # index into LABELS, after label corrections
    source: str         # "<class folder>/<source folder>": unique per folder
    group: str          # owner account of the source's repository: the unit of the k-fold split
    file: str           # file name (what label corrections refer to)


def read_label_corrections(path: Path = LABEL_CORRECTIONS_PATH) -> dict[str, str]:
    """file name -> corrected label, from a TSV with columns file, label, reason ('#' lines are comments)."""
    if not path.is_file():
        return {}
    corrections = {}
    with path.open(newline="") as handle:
        for row in csv.reader((line for line in handle if line.strip() and not line.startswith("#")), delimiter="\t"):
            if row[0] == "file":
                continue
            file, label = row[0].strip(), row[1].strip()
            if label not in LABELS:
                raise ValueError(f"{path}: unknown label {label!r} for {file}")
            corrections[file] = label
    return corrections


def repository_owner(repo: str) -> str:
    """"owner/name" -> "owner": one person's or team's repositories share their style and their screens."""
    return repo.split("/", 1)[0].lower()


def list_samples(data_dir: Path, corrections: dict[str, str] | None = None) -> list[Sample]:
    """All images under data_dir/<label>/<source>/, sorted, with corrected labels and groups (the owner of
    the source's repository, e.g. "renpy" for renpy/renpy; the source itself when the manifest lacks it)."""
    data_dir = Path(data_dir)
    if not all((data_dir / label).is_dir() for label in LABELS):
        raise FileNotFoundError(f"{data_dir} lacks the class folders {', '.join(LABELS)}")
    corrections = read_label_corrections() if corrections is None else corrections
    repo_of_source = {}
    manifest = data_dir / "manifest.tsv"
    if manifest.is_file():
        with manifest.open(newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                repo_of_source[f"{row['class']}/{row['source']}"] = row["repo"]
    samples = []
    for label in LABELS:
        for source_dir in sorted(p for p in (data_dir / label).iterdir() if p.is_dir()):
            source = f"{label}/{source_dir.name}"
            group = repository_owner(repo_of_source[source]) if source in repo_of_source else source
            for path in sorted(source_dir.iterdir()):
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    final_label = corrections.get(path.name, label)
                    samples.append(Sample(path, LABELS.index(final_label), source, group, path.name))
    return samples


def source_gathering(data_dir: Path) -> dict[str, str]:
    """"<class>/<source>" -> when it was gathered ("2026-11", "2026-12"), from the data README's source
    table (its last column); {} when there is none. Lets the model card report new kinds of sources apart."""
    readme = Path(data_dir) / "README.md"
    if not readme.is_file():
        return {}
    gathered = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 6 and cells[0] in LABELS and cells[-1][:2] == "20":
            gathered[f"{cells[0]}/{cells[1]}"] = cells[-1]
    return gathered


def source_folds(samples: list[Sample], folds: int, seed: int) -> dict[str, int]:
    """Assigns each repository group to one of `folds` folds, stratified by class.

    Groups are dealt largest first (ties shuffled by seed) to the fold holding the fewest images of the
    group's majority class, so every fold holds out sources of every class and similar image counts.
    Returns group -> fold.
    """
    counts = defaultdict(lambda: np.zeros(len(LABELS), dtype=int))
    for s in samples:
        counts[s.group][s.label] += 1
    rng = random.Random(seed)
    groups = sorted(counts)
    rng.shuffle(groups)
    groups.sort(key=lambda g: -counts[g].sum())
    load = np.zeros((folds, len(LABELS)), dtype=int)
    assignment = {}
    for g in groups:
        major = int(np.argmax(counts[g]))
        order = sorted(range(folds), key=lambda f: (load[f, major], load[f].sum(), rng.random()))
        assignment[g] = order[0]
        load[order[0]] += counts[g]
    return assignment


def sample_weights(samples: list[Sample], source_cap: int) -> np.ndarray:
    """Per-image weights: a source counts as at most `source_cap` images, and each class weighs the same."""
    per_source = defaultdict(int)
    for s in samples:
        per_source[s.source] += 1
    w = np.array([min(1.0, source_cap / per_source[s.source]) for s in samples], dtype=np.float64)
    labels = np.array([s.label for s in samples])
    for c in range(len(LABELS)):
        total = w[labels == c].sum()
        if total > 0:
            w[labels == c] *= len(samples) / (len(LABELS) * total)
    return w.astype(np.float32)


# ---- preprocessing -------------------------------------------------------------------------------

def load_contract(path: Path = CONTRACT_PATH) -> dict:
    with Path(path).open() as handle:
        return json.load(handle)


# EXIF orientation -> the turn that shows the image upright (as ImageOps.exif_transpose turns it).
_ORIENTATION_TRANSPOSE = {2: Image.FLIP_LEFT_RIGHT, 3: Image.ROTATE_180, 4: Image.FLIP_TOP_BOTTOM,
                          5: Image.TRANSPOSE, 6: Image.ROTATE_270, 7: Image.TRANSVERSE, 8: Image.ROTATE_90}


def upright(image: Image.Image) -> Image.Image:
    """Turned by the orientation of the image's own EXIF block (JPEG APP1, PNG eXIf, WebP EXIF), the one
    the core and browsers read. PIL's exif_transpose also takes one from XMP (tiff:Orientation) or a PNG
    text chunk ("Raw profile type exif"), which neither reads: the model would see such a file turned."""
    raw = image.info.get("exif")
    if not raw:
        return image
    exif = Image.Exif()
    exif.load(raw)
    turn = _ORIENTATION_TRANSPOSE.get(exif.get(0x0112))
    return image.transpose(turn) if turn is not None else image


def open_rgb(source, alpha_background=(255, 255, 255)) -> Image.Image:
    """PIL open, EXIF orientation (upright), composite transparency over alpha_background, convert to RGB."""
    image = Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
    # A 1-, 2- or 4-bit grey PNG's tRNS key is a level of its own depth, while PIL scales its pixels to
    # 0..255 (and keeps the key as it is): the depth shows only in the raw mode, gone once transposed.
    grey_bits = {"1": 1, "L;2": 2, "L;4": 4}.get(image.tile[0][3], 8) if image.format == "PNG" and image.tile else 8
    image = upright(image)
    # A grey or RGB PNG's tRNS colour key is transparency too (browsers and the core show those pixels
    # as transparent); PIL only notes it in info, so it is made an alpha channel here. Not for 16-bit
    # RGB: PIL gives only 8 bits of its pixels, so its 16-bit key cannot be matched (no such file trains).
    key = image.info.get("transparency") if image.mode in ("1", "L", "RGB", "I", "I;16", "I;16B", "I;16L") else None
    if key is not None and image.mode in ("1", "L"):
        grey = np.asarray(image.convert("L"))
        image = Image.fromarray(grey, "L")
        image.putalpha(Image.fromarray(np.where(grey == key * 255 // ((1 << grey_bits) - 1), 0, 255).astype(np.uint8), "L"))
    elif image.mode in ("I", "I;16", "I;16B", "I;16L"):
        # 16-bit grey (PNG): PIL's conversion to 8 bits clips at 255 (nearly all white); the core, like
        # stb_image and browsers, keeps the high byte.
        raw = np.asarray(image).astype(np.uint32)
        image = Image.fromarray((raw >> 8).astype(np.uint8), "L")
        if key is not None:
            image.putalpha(Image.fromarray(np.where(raw == key, 0, 255).astype(np.uint8), "L"))
    elif key is not None:
        image = image.convert("RGBA")  # RGB: PIL applies the key here
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, tuple(alpha_background) + (255,))
        image = Image.alpha_composite(background, image)
    return image.convert("RGB")


def resize_pixels(image: Image.Image, contract: dict) -> np.ndarray:
    """The contract's resize with PIL's BOX filter: "squash" scales the whole frame to the input size;
    "letterbox" keeps the aspect ratio (ImageOps.pad: fit, centre, fill with pad_color), so the network
    sees the frame's shape. Returns uint8 [H, W, 3]."""
    pre = contract["preprocess"]
    size = (contract["input"]["width"], contract["input"]["height"])
    if pre["filter"] != "box":
        raise ValueError(f"unsupported resize filter {pre['filter']}")
    if pre["resize"] == "squash":
        resized = image.resize(size, Image.BOX)
    elif pre["resize"] == "letterbox":
        resized = ImageOps.pad(image, size, Image.BOX, color=tuple(pre["pad_color"]))
    else:
        raise ValueError(f"unsupported resize {pre['resize']}")
    return np.asarray(resized, dtype=np.uint8)


def pixels_to_tensor(pixels: np.ndarray, contract: dict) -> np.ndarray:
    """uint8 [..., H, W, 3] -> float32 [..., 3, H, W] with value = (p * scale - mean[c]) / std[c]."""
    pre = contract["preprocess"]
    x = pixels.astype(np.float32) * np.float32(pre["scale"])
    x = (x - np.asarray(pre["mean"], np.float32)) / np.asarray(pre["std"], np.float32)
    return np.ascontiguousarray(np.moveaxis(x, -1, -3))


def eval_pixels(source, contract: dict) -> np.ndarray:
    """The evaluation preprocessing up to uint8 pixels: open_rgb then the contract's resize."""
    return resize_pixels(open_rgb(source, contract["preprocess"]["alpha_background"]), contract)


def eval_tensor(source, contract: dict) -> np.ndarray:
    """The exact evaluation preprocessing: float32 [3, H, W] as the ONNX model expects it."""
    return pixels_to_tensor(eval_pixels(source, contract), contract)


# ---- augmentation --------------------------------------------------------------------------------

AUGMENTATIONS = ("standard", "strong-colour", "titles")
TITLE_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
TITLE_FONTS = ("DejaVuSans-Bold.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSansCondensed-Bold.ttf",
               "DejaVuSerifCondensed-Bold.ttf", "DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSans-BoldOblique.ttf")
SYLLABLES = ("ka", "ri", "mo", "shi", "ne", "to", "ra", "lu", "vel", "on", "ar", "stra", "dra", "gon", "ex",
             "night", "star", "blue", "sky", "fa", "ta", "sy", "zen", "ia", "or", "the", "of", "lo", "mi")


def random_title(rng: random.Random) -> str:
    words = ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(1, 3))]
    text = " ".join(words)
    return text.upper() if rng.random() < 0.6 else text.title()


def overlay_title(image: Image.Image, rng: random.Random) -> Image.Image:
    """Big title text over the picture, as on covers, key visuals and album art: 1-2 lines in a random
    DejaVu face, light or dark, outlined, shadowed or on a band. Applied to every class alike, so a
    title alone is evidence of no class (covers with titles are illustrations; screens keep their UI)."""
    image = image.copy()
    draw = ImageDraw.Draw(image)
    w, h = image.size
    lines = [random_title(rng) for _ in range(1 if rng.random() < 0.6 else 2)]
    size = max(8, int(min(w, h) * rng.uniform(0.07, 0.2)))
    font = ImageFont.truetype(str(TITLE_FONT_DIR / rng.choice(TITLE_FONTS)), size)
    light = rng.random() < 0.6
    fill = tuple(rng.randint(200, 255) for _ in range(3)) if light else tuple(rng.randint(0, 60) for _ in range(3))
    if rng.random() < 0.3:
        fill = tuple(rng.randint(0, 255) for _ in range(3))
    edge = (0, 0, 0) if light else (255, 255, 255)
    boxes = [draw.textbbox((0, 0), line, font=font) for line in lines]
    block_w = max(b[2] - b[0] for b in boxes)
    line_h = max(b[3] - b[1] for b in boxes) + size // 5
    block_h = line_h * len(lines)
    x = rng.choice([max(0, (w - block_w) // 2), int(w * 0.05), max(0, rng.randint(0, max(0, w - block_w)))])
    y = rng.choice([int(h * rng.uniform(0.03, 0.15)), int(h - block_h - h * rng.uniform(0.03, 0.15)),
                    rng.randint(0, max(0, h - block_h))])
    style = rng.random()
    if style < 0.2:  # a solid band behind the title, as on light-novel and manga covers
        band = tuple(rng.randint(0, 255) for _ in range(3))
        draw.rectangle((0 if rng.random() < 0.5 else x - size // 3, y - size // 4, w if rng.random() < 0.5 else x + block_w + size // 3,
                        y + block_h + size // 6), fill=band)
    for i, line in enumerate(lines):
        pos = (x, y + i * line_h)
        if 0.2 <= style < 0.45:
            off = max(1, size // 14)
            draw.text((pos[0] + off, pos[1] + off), line, font=font, fill=(0, 0, 0))
        stroke = max(1, size // 12) if 0.45 <= style < 0.8 else 0
        draw.text(pos, line, font=font, fill=fill, stroke_width=stroke, stroke_fill=edge)
    if rng.random() < 0.3:  # a small credit line, as under many titles
        small = ImageFont.truetype(str(TITLE_FONT_DIR / "DejaVuSans.ttf"), max(6, size // 3))
        draw.text((x, min(h - size // 3, y + block_h)), random_title(rng).lower(), font=small, fill=fill)
    return image


def augment(image: Image.Image, rng: random.Random, kind: str = "standard") -> Image.Image:
    """One random training view that keeps what makes the class: most of the frame (UI edges tell a
    screenshot), mild colour changes, JPEG recompression and X's small sizes. Returns an RGB image;
    the caller then applies the same resize as evaluation. kind "strong-colour" also makes some views
    grey and moves saturation further, so colour alone (a painting's natural palette, a styled photo)
    cannot decide the class. kind "titles" writes a big title over 30 % of the views (overlay_title), so
    a title cannot decide it either."""
    if kind not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {kind!r}")
    strong = kind == "strong-colour"
    w, h = image.size
    # Random resized crop keeping 70-100 % of the area with a mild aspect change.
    area = rng.uniform(0.70, 1.0)
    aspect = np.exp(rng.uniform(np.log(0.85), np.log(1.18)))
    cw = min(w, max(8, int(round(w * np.sqrt(area * aspect)))))
    ch = min(h, max(8, int(round(h * np.sqrt(area / aspect)))))
    left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
    image = image.crop((left, top, left + cw, top + ch))
    if rng.random() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    if kind == "titles" and rng.random() < 0.3:
        image = overlay_title(image, rng)
    if rng.random() < 0.8:
        image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.8, 1.2))
        image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.8, 1.2))
        image = ImageEnhance.Color(image).enhance(rng.uniform(0.4, 1.6) if strong else rng.uniform(0.75, 1.25))
    if strong and rng.random() < 0.15:
        image = image.convert("L").convert("RGB")
    if rng.random() < 0.5:  # downscale to an X "small"-like size (never upscale)
        longest = max(image.size)
        target = rng.randint(224, X_SMALL_LONGEST_SIDE)
        if target < longest:
            scale = target / longest
            image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                                 rng.choice([Image.BILINEAR, Image.BICUBIC, Image.LANCZOS, Image.BOX]))
    if rng.random() < 0.6:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=rng.randint(45, 95))
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return image
