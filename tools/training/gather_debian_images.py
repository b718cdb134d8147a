#!/usr/bin/python3
"""Gathers more real training images from Debian packages: game screens captured under Xvfb, HTML
documentation rendered by Chromium, and photos and drawn art shipped in data packages.

Why: the classifier is weakest on screenshots of games it has never seen and on some photo sources; the
shared data set (../shared/data) has few sources of those. Debian ships many real games and image
collections with known licences, so this tool turns them into more sources, reproducibly.

Output (outside the repository, default /work/extra-data) has the shared data's layout:
<class>/<source>/<file>.jpg plus manifest.tsv. Every image is converted exactly like the shared data
(RGB JPEG quality 85, longest side at most 640 px, EXIF orientation applied, transparency flattened on
white), near-duplicates are dropped by perceptual hash within and across sources (and against the shared
data), and each source is capped. Source folders are prefixed `debian-` so validation by source can tell
how much they help. See docs/debian-data.md.

Usage (Debian's python, it has PIL and numpy):
  /usr/bin/python3 tools/training/gather_debian_images.py [--out DIR] [--only SOURCE ...] [--dry-run] [--install]
"""
from __future__ import annotations

import argparse
import csv
import fnmatch
import hashlib
import io
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

REPO_ROOT = Path(__file__).resolve().parents[2]
LABELS = ("illustration", "screenshot", "photo")
JPEG_QUALITY = 85
LONGEST_SIDE = 640
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
MANIFEST_COLUMNS = ("class", "source", "file", "repo", "package", "version", "path_in_package",
                    "original_sha256", "original_width", "original_height", "license")
# Decoding bombs in package data would only waste time: refuse anything above this many pixels.
MAX_PIXELS = 60_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


# ---- conversion --------------------------------------------------------------------------------------

class ConversionError(ValueError):
    """An input that cannot become a training image (corrupt, empty, too large, unsupported)."""


def convert_image(source, longest_side: int = LONGEST_SIDE) -> tuple[Image.Image, tuple[int, int]]:
    """Opens an image (path, bytes or file object) and returns (RGB image, original (width, height)).

    Same recipe as the shared data: EXIF orientation applied, transparency composited over white, first
    frame of animations, longest side scaled down (never up) to `longest_side` with Lanczos.
    Raises ConversionError for anything PIL cannot decode or that exceeds MAX_PIXELS.
    """
    try:
        image = Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
        original_size = image.size
        if image.width * image.height > MAX_PIXELS:
            raise ConversionError(f"image too large: {image.width}x{image.height}")
        image.seek(0)
        image.load()
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (image.mode == "P" and "transparency" in image.info):
            image = image.convert("RGBA")
            background = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, image)
        elif image.mode in ("I;16", "I;16B", "I;16L", "I"):
            # 16-bit greyscale PNGs: PIL's convert("RGB") clips instead of scaling, so scale first.
            array = np.asarray(image, dtype=np.float64)
            image = Image.fromarray(np.clip(array / max(1.0, array.max()) * 255.0, 0, 255).astype(np.uint8))
        image = image.convert("RGB")
    except ConversionError:
        raise
    except Image.DecompressionBombError as error:
        raise ConversionError(f"image too large: {error}") from error
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, EOFError) as error:
        raise ConversionError(f"cannot decode: {error}") from error
    if image.width < 1 or image.height < 1:
        raise ConversionError("empty image")
    scale = longest_side / max(image.size)
    if scale < 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.LANCZOS)
    return image, original_size


def detail_level(image: Image.Image) -> float:
    """Mean absolute difference between neighbouring pixels of a 128x128 greyscale thumbnail (0-255).
    Blank fills, gradients and tile strips score 1 or less (a full black-to-white ramp scores 1);
    photos, art and screens score 1.5 and up."""
    grey = np.asarray(image.convert("L").resize((128, 128), Image.BOX), dtype=np.float64)
    return float((np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean()) / 2)


def save_jpeg(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="JPEG", quality=JPEG_QUALITY)


# ---- perceptual hashes -------------------------------------------------------------------------------

def dhash(image: Image.Image, size: int = 8) -> int:
    """Difference hash: size*size bits, each 'is this pixel brighter than its right neighbour' on a
    (size+1)xsize greyscale thumbnail. Robust to scaling and JPEG re-encoding."""
    grey = np.asarray(image.convert("L").resize((size + 1, size), Image.BOX), dtype=np.int16)
    bits = (grey[:, 1:] > grey[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    matrix[0] /= np.sqrt(2.0)
    return matrix


_DCT32 = _dct_matrix(32)


def phash(image: Image.Image) -> int:
    """Perceptual hash: 64 bits, the 8x8 lowest 2-D DCT frequencies of a 32x32 greyscale thumbnail
    compared with their median. Catches the same picture at another crop-free size or colour grade."""
    grey = np.asarray(image.convert("L").resize((32, 32), Image.BOX), dtype=np.float64)
    low = (_DCT32 @ grey @ _DCT32.T)[:8, :8].flatten()
    bits = low > np.median(low[1:])
    return int("".join("1" if b else "0" for b in bits), 2)


def hamming(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


class NearDuplicateIndex:
    """Remembers (dHash, pHash) pairs; an image is a near-duplicate of a remembered one when both hashes
    are within their thresholds. Requiring both keeps distinct screens of one game (same layout, other
    content) apart while catching rescaled, recompressed or slightly shifted copies."""

    def __init__(self, dhash_threshold: int = 10, phash_threshold: int = 10):
        self.dhash_threshold = dhash_threshold
        self.phash_threshold = phash_threshold
        self._dhashes = np.zeros(0, dtype=np.uint64)
        self._phashes = np.zeros(0, dtype=np.uint64)
        self._names: list[str] = []

    def __len__(self):
        return len(self._names)

    @staticmethod
    def _popcount(values: np.ndarray) -> np.ndarray:
        bytes_view = values.view(np.uint8).reshape(-1, 8)
        return np.unpackbits(bytes_view, axis=1).sum(axis=1)

    def find(self, image: Image.Image) -> str | None:
        """Name of a remembered near-duplicate of `image`, or None."""
        if not self._names:
            return None
        d = self._popcount(self._dhashes ^ np.uint64(dhash(image)))
        p = self._popcount(self._phashes ^ np.uint64(phash(image)))
        hits = np.nonzero((d <= self.dhash_threshold) & (p <= self.phash_threshold))[0]
        return self._names[int(hits[0])] if len(hits) else None

    def add(self, image: Image.Image, name: str) -> None:
        self._dhashes = np.append(self._dhashes, np.uint64(dhash(image)))
        self._phashes = np.append(self._phashes, np.uint64(phash(image)))
        self._names.append(name)


# ---- manifest -----------------------------------------------------------------------------------------

def read_manifest(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def merge_manifest(path: Path, rows: list[dict], sources: set[tuple[str, str]]) -> list[dict]:
    """Replaces the rows of `sources` ((class, source) pairs) in the manifest at path by `rows`, keeping
    every other source's rows as they are on disk now, under an exclusive lock: two runs of this tool
    (say captures and package images) may then gather different sources at once. Returns all rows."""
    import fcntl
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / ".manifest.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        kept = [r for r in read_manifest(path) if (r["class"], r["source"]) not in sources]
        merged = kept + [r for r in rows if (r["class"], r["source"]) in sources]
        write_manifest(path, merged)
    return merged


def write_manifest(path: Path, rows: list[dict]) -> None:
    """Writes rows sorted by class, source, file; tabs and newlines inside values become spaces."""
    path.parent.mkdir(parents=True, exist_ok=True)
    clean = lambda value: re.sub(r"[\t\r\n]+", " ", str(value))
    rows = sorted(rows, key=lambda r: (r["class"], r["source"], r["file"]))
    tmp = path.with_suffix(".tsv.tmp")
    with tmp.open("w", newline="") as handle:
        handle.write("\t".join(MANIFEST_COLUMNS) + "\n")
        for row in rows:
            handle.write("\t".join(clean(row.get(column, "")) for column in MANIFEST_COLUMNS) + "\n")
    tmp.replace(path)


def output_file_name(path_in_package: str, sha256: str) -> str:
    """A readable, unique, filesystem-safe JPEG name: the package path's tail plus 8 hex of its hash."""
    parts = [p for p in Path(path_in_package).with_suffix("").parts if p not in ("/", "")][-3:]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", "__".join(parts)).strip("._")[:80] or "image"
    return f"{stem}_{sha256[:8]}.jpg"


# ---- licences ------------------------------------------------------------------------------------------

def licence_from_copyright(text: str, path_in_source: str | None = None) -> str:
    """Licence short name from a debian/copyright file.

    Machine-readable (DEP-5) files: the License of the last Files paragraph whose pattern matches
    path_in_source (installed paths rarely match source paths, so usually the `Files: *` paragraph).
    Other files: the licence names mentioned in the text, or 'unknown'.
    """
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    found = None
    for paragraph in paragraphs:
        files = re.search(r"^Files:\s*(.+(?:\n[ \t]+.+)*)", paragraph, re.M)
        licence = re.search(r"^License:\s*(.+)$", paragraph, re.M)
        if not files or not licence:
            continue
        patterns = files.group(1).split()
        if "*" in patterns or (path_in_source and any(fnmatch.fnmatch(path_in_source, pat) for pat in patterns)):
            found = licence.group(1).strip()
    if found:
        return found
    names = []
    for pattern, name in ((r"GPL[- ]?2|GNU General Public License,? version 2|version 2 of the License", "GPL-2+"),
                          (r"GPL[- ]?3|version 3 of the License", "GPL-3+"),
                          (r"CC[- ]BY[- ]SA", "CC-BY-SA"), (r"CC0|public domain", "public-domain/CC0"),
                          (r"\bMIT\b|Permission is hereby granted, free of charge", "MIT/Expat"),
                          (r"\bBSD\b", "BSD"), (r"Artistic", "Artistic"), (r"GFDL|Free Documentation", "GFDL")):
        if re.search(pattern, text, re.I) and name not in names:
            names.append(name)
    return " / ".join(names) + " (from a non-machine-readable copyright file)" if names else "unknown"


def package_licence(root: Path, package: str, fetch=None) -> str:
    """Licence from <root>/usr/share/doc/<package>/copyright (extracted deb or the installed system).

    Arch-independent data packages often link their doc folder to a sibling package's
    (gimp-help-en -> gimp-help-common): `fetch(name) -> extracted root` then fetches that one."""
    doc_dir = root / "usr" / "share" / "doc" / package
    doc = doc_dir / "copyright"
    if not doc.is_file() and doc_dir.is_symlink():
        sibling = Path(os.readlink(doc_dir)).name
        for candidate_root in [root, Path("/")] + ([fetch(sibling)] if fetch else []):
            if candidate_root and (candidate_root / "usr/share/doc" / sibling / "copyright").is_file():
                doc = candidate_root / "usr/share/doc" / sibling / "copyright"
                break
    if not doc.is_file():
        return "unknown"
    return licence_from_copyright(doc.read_text(errors="replace"))


# ---- Debian packages ---------------------------------------------------------------------------------

def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, text=True, capture_output=True, **kwargs)


def fetch_package(package: str, cache_dir: Path, log) -> tuple[Path, str]:
    """Downloads (or reuses) <package>.deb in cache_dir/debs and extracts it once under cache_dir/root.

    Reuses a matching .deb from apt's own archive cache when one is there (games installed for capture
    leave their data packages in /var/cache/apt/archives). Returns (extracted root, version).
    """
    debs = cache_dir / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    candidate = run(["apt-cache", "policy", package]).stdout
    match = re.search(r"Candidate:\s*(\S+)", candidate)
    if not match or match.group(1) == "(none)":
        raise RuntimeError(f"package {package} is unknown to apt (run apt-get update?)")
    version = match.group(1)
    file_version = version.replace(":", "%3a")
    existing = sorted(debs.glob(f"{package}_{file_version}_*.deb"))
    if not existing:
        archived = sorted(Path("/var/cache/apt/archives").glob(f"{package}_{file_version}_*.deb"))
        if archived:
            shutil.copy2(archived[0], debs / archived[0].name)
        else:
            log(f"  apt-get download {package}={version}")
            run(["apt-get", "download", f"{package}={version}"], cwd=debs)
        existing = sorted(debs.glob(f"{package}_{file_version}_*.deb"))
    if not existing:
        raise RuntimeError(f"apt-get download {package} left no .deb in {debs}")
    root = cache_dir / "root" / f"{package}_{file_version}"
    if not (root / ".extracted").is_file():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        run(["dpkg-deb", "-x", str(existing[0]), str(root)])
        (root / ".extracted").write_text(existing[0].name + "\n")
    return root, version


def installed_version(package: str) -> str | None:
    try:
        out = run(["dpkg-query", "-W", "-f", "${Status}\t${Version}", package]).stdout
    except subprocess.CalledProcessError:
        return None
    status, _, version = out.partition("\t")
    return version if status.endswith(" installed") else None


# ---- Qt resource archives (gcompris-qt-data keeps its images inside .rcc files) ---------------------

def read_rcc(data: bytes) -> dict[str, bytes]:
    """Files of a Qt binary resource (.rcc) archive: path -> bytes (zlib-compressed entries inflated;
    zstd-compressed entries skipped, Python has no zstd). Raises ValueError on a malformed archive."""
    if data[:4] != b"qres":
        raise ValueError("not a Qt resource archive")
    version, tree_offset, data_offset, names_offset = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12, 16))
    node_size = 14 if version == 1 else 22

    def name_at(offset: int) -> str:
        length = int.from_bytes(data[names_offset + offset:names_offset + offset + 2], "big")
        start = names_offset + offset + 6
        return data[start:start + 2 * length].decode("utf-16-be")

    files: dict[str, bytes] = {}
    stack = [(0, "")]
    seen = set()
    while stack:
        node, prefix = stack.pop()
        if node in seen:
            raise ValueError("cycle in resource tree")
        seen.add(node)
        base = tree_offset + node * node_size
        if base + node_size > len(data):
            raise ValueError("resource tree runs past the end")
        name_offset = int.from_bytes(data[base:base + 4], "big")
        flags = int.from_bytes(data[base + 4:base + 6], "big")
        name = name_at(name_offset) if node else ""
        path = f"{prefix}/{name}" if name else prefix
        if flags & 2:  # directory
            count = int.from_bytes(data[base + 6:base + 10], "big")
            first = int.from_bytes(data[base + 10:base + 14], "big")
            stack.extend((first + i, path) for i in range(count))
        else:
            offset = data_offset + int.from_bytes(data[base + 10:base + 14], "big")
            size = int.from_bytes(data[offset:offset + 4], "big")
            payload = data[offset + 4:offset + 4 + size]
            if flags & 1:
                payload = zlib.decompress(payload[4:])
            elif flags & 4:
                continue
            files[path.lstrip("/")] = payload
    return files


# ---- sources --------------------------------------------------------------------------------------------

@dataclass
class PackageImages:
    """Images shipped in Debian packages, selected by glob patterns on their installed paths."""
    name: str                      # output source folder, starts with debian-
    label: str                     # class folder
    packages: list[str]
    include: list[str]             # fnmatch patterns on paths inside the package, e.g. usr/share/x/*.png
    exclude: list[str] = field(default_factory=list)
    group: str = ""                # "repo" column: sources of one upstream share it (same validation fold)
    min_side: int = 200            # smaller images are icons and sprites, not pictures
    rcc: bool = False              # the patterns select .rcc archives whose members are filtered by member_include
    member_include: list[str] = field(default_factory=list)
    cap: int | None = None         # overrides --cap for this source
    note: str = ""


@dataclass
class GameCapture:
    """Screens of a real game, captured under Xvfb with a scripted sequence of waits, keys and shots.
    Several sessions (other campaigns, other game modes) may feed one source; each starts the game afresh."""
    name: str
    package: str                   # the package whose version and licence the manifest names
    command: list[str]             # first session
    steps: list[tuple]             # ("wait", s) ("window", timeout) ("key", keys...) ("click", x, y) ("shot", name)
    also: list[tuple[list[str], list[tuple]]] = field(default_factory=list)  # more (command, steps) sessions
    prepare: object = None         # callable(cache_dir) run before capturing; commands may use {cache}
    keep_home: bool = False        # sessions share one HOME (first-run dialogs only once), fresh per capture
    screen: tuple[int, int] = (1280, 720)
    needs: list[str] = field(default_factory=list)   # extra packages to install with --install
    env: dict = field(default_factory=dict)
    dbus: bool = False
    label: str = "screenshot"
    group: str = ""
    cap: int | None = None
    note: str = ""

    @property
    def sessions(self) -> list[tuple[list[str], list[tuple], str]]:
        """(command, steps, package) of each session; `also` entries may name their own package."""
        return [(self.command, self.steps, self.package)] + [
            (entry[0], entry[1], entry[2] if len(entry) > 2 else self.package) for entry in self.also]


@dataclass
class HtmlRender:
    """App-like documentation pages shipped in Debian, rendered by headless Chromium at set viewports."""
    name: str
    package: str
    include: list[str]
    viewports: list[tuple[int, int]] = field(default_factory=lambda: [(1280, 720), (390, 844)])
    pages: int = 40                # pages rendered (spread over the sorted matches)
    label: str = "screenshot"
    group: str = ""
    cap: int | None = None
    note: str = ""


def _keys(*keys):
    return ("key",) + keys


SOURCES: list = [
    # ---- photos
    PackageImages("debian-endless-sky", "photo", ["endless-sky-high-dpi"],
                  ["usr/share/games/endless-sky/plugins/endless-sky-high-dpi/images/land/*"], group="debian:endless-sky",
                  note="landscape and city photos used as planet landing scenes"),
    PackageImages("debian-gcompris-photos", "photo", ["gcompris-qt-data"],
                  ["usr/share/gcompris-qt/rcc/*.rcc"], rcc=True, min_side=240, group="debian:gcompris",
                  member_include=[f"*/categorization/resource/images/{topic}/*" for topic in
                                  ("fishes", "monuments", "others", "renewable", "tools")]
                  + ["*/erase/resource/*", "*/explore_*/resource/*/*"],
                  note="photos of animals, monuments, objects from GCompris activities (inside Qt .rcc archives)"),
    PackageImages("debian-gcompris-words", "illustration", ["gcompris-qt-data"],
                  ["usr/share/gcompris-qt/rcc/lang.rcc"], rcc=True, min_side=240, group="debian:gcompris",
                  member_include=["*/lang/resource/words_sample/*"],
                  note="cartoon clip art of vocabulary words in the GCompris lang activity"),
    PackageImages("debian-skimage", "photo", ["python3-skimage"],
                  [f"usr/lib/python3/dist-packages/skimage/data/{name}" for name in
                   ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "rocket.jpg", "camera.png")],
                  group="debian:skimage", min_side=256,
                  note="scikit-image sample photos (astronaut, cat, coffee, motorcycle, rocket, cameraman)"),
    PackageImages("debian-opencv-samples", "photo", ["opencv-doc"],
                  [f"usr/share/doc/opencv-doc/examples/data/{name}" for name in
                   ("aero1.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "basketball1.png", "board.jpg", "building.jpg",
                    "butterfly.jpg", "fruits.jpg", "home.jpg", "leuvenA.jpg", "messi5.jpg", "orange.jpg",
                    "squirrel_cls.jpg", "graf1.png", "box_in_scene.png", "rubberwhale1.png", "smarties.png",
                    "000.jpg", "001.jpg", "002.jpg")]
                  + ["usr/share/doc/opencv-doc/examples/alphamat/input_images/*.jpg",
                     "usr/share/doc/opencv-doc/examples/text/scenetext0[1-6].jpg"],
                  group="debian:opencv", min_side=200,
                  note="OpenCV sample photos (fruits, building, street scenes with text, animals)"),
    # ---- illustrations
    PackageImages("debian-wesnoth-portraits", "illustration", ["wesnoth-1.16-data"],
                  ["usr/share/games/wesnoth/1.16/data/core/images/portraits/*.png",
                   "usr/share/games/wesnoth/1.16/data/core/images/portraits/*/*.png"],
                  exclude=["*/transparent/*"], group="debian:wesnoth",
                  note="painted unit portraits (transparent, flattened on white)"),
    PackageImages("debian-wesnoth-story", "illustration", ["wesnoth-1.16-data", "wesnoth-1.16-httt",
                                                           "wesnoth-1.16-did", "wesnoth-1.16-sof"],
                  ["usr/share/games/wesnoth/1.16/data/core/images/story/*",
                   "usr/share/games/wesnoth/1.16/data/campaigns/*/images/story/*",
                   "usr/share/games/wesnoth/1.16/data/core/images/*-background.*",
                   "usr/share/games/wesnoth/1.16/data/campaigns/*/images/*.jpg"],
                  exclude=["*map*", "*/misc/*"], group="debian:wesnoth",
                  note="painted story and campaign art (map screens excluded)"),
    PackageImages("debian-flare-portraits", "illustration", ["flare-game"],
                  ["usr/share/games/flare/mods/*/images/portraits/*.png",
                   "usr/share/games/flare/mods/*/images/menus/backgrounds/*.png"],
                  group="debian:flare", min_side=160, note="painted character portraits and menu art"),
    PackageImages("debian-hedgewars-missions", "illustration", ["hedgewars-data"],
                  ["usr/share/games/hedgewars/Data/Graphics/Missions/*/*.png",
                   "usr/share/games/hedgewars/Data/Graphics/Missions/*/*/*.png"],
                  group="debian:hedgewars", min_side=150, note="cartoon mission pictures"),
    PackageImages("debian-supertux-backgrounds", "illustration", ["supertux-data"],
                  ["usr/share/games/supertux2/images/background/*",
                   "usr/share/games/supertux2/images/background/*/*"],
                  group="debian:supertux", min_side=300, note="painted and drawn level backgrounds"),
    # ---- screenshots shipped in documentation
    PackageImages("debian-gimp-help-shots", "screenshot", ["gimp-help-en"],
                  # By file name: the folders also hold example pictures (photos, filter results).
                  [f"usr/share/gimp/2.0/help/en/images/*{word}*.png" for word in
                   ("dialog", "menu", "options", "prefs", "window", "editor", "settings", "browser")],
                  exclude=["*/filters/examples/*", "*-ex[0-9.]*", "*_orig*", "*-orig*"],
                  min_side=220, group="debian:gimp-help",
                  note="GIMP manual screenshots: dialogs, windows, menus (crops of real screens)"),
    # ---- HTML documentation rendered by Chromium
    HtmlRender("debian-html-handbook", "debian-handbook", ["usr/share/doc/debian-handbook/html/en-US/*.html"],
               group="debian:debian-handbook", note="The Debian Administrator's Handbook (HTML)"),
    HtmlRender("debian-html-python-docs", "python3.11-doc", ["usr/share/doc/python3.11/html/*/*.html"],
               group="debian:python-docs", note="Python 3.11 documentation (Sphinx HTML)"),
    HtmlRender("debian-html-reference", "debian-reference-en", ["usr/share/debian-reference/*.en.html"],
               pages=20, group="debian:debian-reference", note="Debian Reference (HTML)"),
]


WESNOTH_CAMPAIGNS = ("Heir_To_The_Throne", "The_South_Guard", "Eastern_Invasion", "Northern_Rebirth",
                     "Under_the_Burning_Suns", "Son_of_the_Black-Eye", "Descent_into_Darkness", "Dead_Water",
                     "Liberty", "The_Hammer_of_Thursagan")


def _wesnoth_campaign(campaign: str) -> tuple[list[str], list[tuple]]:
    # A scenario opens with characters talking (portrait dialogs); Return advances them; then the map with
    # the unit panel; a click selects a unit or hex, arrow keys scroll the map.
    command = ["/usr/games/wesnoth-1.16", "--nosound", "-r", "1280x720", "-c", campaign,
               "--campaign-difficulty", "1", "--campaign-skip-story"]
    tag = campaign.lower().replace("_", "-")
    steps = [("window", 180), ("wait", 40), ("shot", f"{tag}-start"),
             _keys("Return"), ("wait", 4), ("shot", f"{tag}-dialog1"),
             _keys("Return"), ("wait", 4), ("shot", f"{tag}-dialog2"),
             _keys("Return", "Return", "Return", "Return"), ("wait", 4), ("shot", f"{tag}-map"),
             ("click", 640, 360), ("wait", 3), ("shot", f"{tag}-click"),
             _keys("Right", "Right", "Right", "Down", "Down"), ("wait", 3), ("shot", f"{tag}-scroll"),
             _keys("Escape"), ("wait", 3), ("shot", f"{tag}-menu")]
    return command, steps


RENPY_LINE_FIX = (
    "    for child in ast.iter_child_nodes(node):\n        fix_missing_locations(child, lineno, col_offset)\n",
    "    # Python 3.11 validates end positions: keep them at or after the start (upstream renpy fix).\n"
    "    if 'end_lineno' in node._attributes:\n"
    "        if getattr(node, 'end_lineno', None) is None or node.end_lineno < node.lineno:\n"
    "            node.end_lineno = node.lineno\n"
    "    if 'end_col_offset' in node._attributes:\n"
    "        if getattr(node, 'end_col_offset', None) is None or (\n"
    "                node.end_lineno == node.lineno and node.end_col_offset < node.col_offset):\n"
    "            node.end_col_offset = node.col_offset\n"
    "    for child in ast.iter_child_nodes(node):\n        fix_missing_locations(child, lineno, col_offset)\n")


def prepare_renpy(cache_dir: Path) -> Path:
    """A patched copy of Debian's Ren'Py 8.0.3 in cache_dir/renpy-py311.

    Why: under Debian 12's Python 3.11 it dies with 'AST node line range ... is not valid' (upstream
    renpy issue 5461): its fix_missing_locations() leaves end_lineno unset on the nodes it creates. The
    copy sets end positions too. A copy also keeps the games' compiled .rpyc files out of /usr/share."""
    target = cache_dir / "renpy-py311"
    marker = target / ".patched"
    if marker.is_file():
        return target
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree("/usr/share/games/renpy", target, symlinks=True)
    python_py = target / "renpy" / "python.py"
    text = python_py.read_text()
    if text.count(RENPY_LINE_FIX[0]) != 1:
        raise RuntimeError(f"{python_py}: the code to patch has changed; check the Ren'Py version")
    python_py.write_text(text.replace(*RENPY_LINE_FIX))
    marker.write_text("patched for Python 3.11\n")
    return target


def _renpy(game: str, steps: list[tuple]) -> tuple[list[str], list[tuple]]:
    return (["/usr/bin/python3", "{cache}/renpy-py311/renpy.py", f"{{cache}}/renpy-py311/{game}"], steps)


# The main menu of both games: buttons in the left column (window coordinates at 1280x720).
RENPY_MENU = {"start": (62, 222), "load": (62, 257), "preferences": (97, 292), "about": (70, 327), "help": (60, 362)}


def _renpy_story(tag: str, advances: int, choose_every: int = 4) -> list[tuple]:
    # Return advances the dialogue; at a choice menu Down focuses a button and Return takes it.
    steps = [("window", 150), ("wait", 25), ("shot", f"{tag}-title"), ("click", *RENPY_MENU["start"]),
             ("wait", 8), ("shot", f"{tag}-0")]
    for i in range(1, advances + 1):
        if i % choose_every == 0:
            # Each time a different entry (the demo's topic menu comes back after each topic).
            steps += [_keys(*["Down"] * ((i // choose_every) % 9 + 1)), ("wait", 1)]
        steps += [_keys("Return"), ("wait", 3), ("shot", f"{tag}-{i}")]
    steps += [_keys("Escape"), ("wait", 4), ("shot", f"{tag}-game-menu")]
    return steps


def _renpy_menus(tag: str) -> list[tuple]:
    steps = [("window", 150), ("wait", 25)]
    for name in ("load", "preferences", "about", "help"):
        steps += [("click", *RENPY_MENU[name]), ("wait", 5), ("shot", f"{tag}-{name}"), _keys("Escape"), ("wait", 4)]
    return steps


GCOMPRIS_ACTIVITIES = ("chess", "categorization", "explore_monuments", "memory", "money", "geography",
                       "land_safe", "solar_system")


def _gcompris(activity: str | None) -> tuple[list[str], list[tuple]]:
    command = ["/usr/games/gcompris-qt", "--software-renderer", "--mute", "-f"]
    tag = activity or "home"
    if activity:
        command += ["--launch", activity]
    return command, [("window", 150), ("wait", 30), ("shot", tag), ("click", 640, 420), ("wait", 5),
                     ("shot", f"{tag}-2"), ("click", 400, 300), ("wait", 5), ("shot", f"{tag}-3")]


def _simple_game(command: list[str], tag: str, package: str | None = None) -> tuple:
    """Steps that suit most small games: the start screen, a click in the middle (a menu entry, a board
    cell), Return (start), a few arrow keys, ctrl+n (new game in KDE/GNOME games)."""
    steps = [("window", 90), ("wait", 15), ("shot", tag), ("click", 0.5, 0.5), ("wait", 4), ("shot", f"{tag}-click"),
             _keys("Return"), ("wait", 5), ("shot", f"{tag}-return"), _keys("Left", "Up", "Right", "space"),
             ("wait", 3), ("shot", f"{tag}-keys"), ("key", "ctrl+n"), ("wait", 5), ("shot", f"{tag}-new"),
             ("click", 0.3, 0.6), ("wait", 3), ("shot", f"{tag}-click2")]
    return (command, steps, package) if package else (command, steps)


def _kpat(game: str) -> tuple[list[str], list[tuple]]:
    # A new deal (F2) and a hint (H) change the table; the solver's status line differs too.
    return (["/usr/games/kpat", "--gametype", game],
            [("window", 90), ("wait", 12), ("shot", game), ("key", "h"), ("wait", 3), ("shot", f"{game}-hint"),
             ("key", "F2"), ("wait", 6), ("shot", f"{game}-new")])


def _aisleriot(game: str) -> tuple[list[str], list[tuple]]:
    return (["/usr/games/sol", "--variation", game],
            [("window", 60), ("wait", 8), ("shot", game), ("key", "ctrl+h"), ("wait", 3), ("shot", f"{game}-hint"),
             ("key", "ctrl+n"), ("wait", 5), ("shot", f"{game}-new")])


def _scummvm_steps(name: str, skip_key: str = "Escape") -> list[tuple]:
    # Intros run several screens: Escape skips them (Drascula quits on Escape: it uses Return and clicks);
    # clicks on the room make the hero walk, so each shot shows another moment.
    steps = [("window", 90), ("wait", 15), ("shot", f"{name}-intro")]
    for i in range(4):
        steps += [_keys(skip_key), ("wait", 3), ("click", 320, 200), ("wait", 5), ("shot", f"{name}-skip{i}")]
    for i, (x, y) in enumerate([(100, 300), (500, 250), (300, 350), (560, 330)]):
        steps += [("click", x, y), ("wait", 6), ("shot", f"{name}-walk{i}")]
    steps += [("key", "F5"), ("wait", 4), ("shot", f"{name}-menu"), _keys("Escape")]
    return steps


CAPTURES: list[GameCapture] = [
    GameCapture("debian-wesnoth", "wesnoth-1.16", *_wesnoth_campaign("Tutorial"),
                also=[_wesnoth_campaign(c) for c in WESNOTH_CAMPAIGNS],
                needs=[f"wesnoth-1.16-{p}" for p in ("httt", "tsg", "ei", "nr", "utbs", "sotbe", "did", "dw", "l")],
                group="debian:wesnoth", note="first scenario of several campaigns: map, unit panels, dialogs"),
    GameCapture("debian-wesnoth-menu", "wesnoth-1.16", ["/usr/games/wesnoth-1.16", "--nosound", "-r", "1280x720"],
                # The title screen's buttons sit in the right-hand column at 1280x720.
                [("window", 180), ("wait", 30), ("shot", "title"),
                 ("click", 1102, 302), ("wait", 8), ("shot", "campaigns"), _keys("Down", "Down"), ("wait", 2),
                 ("shot", "campaigns2"), _keys("Escape"), ("wait", 3),
                 ("click", 1102, 342), ("wait", 6), ("shot", "multiplayer"), _keys("Escape"), ("wait", 3),
                 ("click", 1102, 382), ("wait", 6), ("shot", "load"), _keys("Escape"), ("wait", 3),
                 ("click", 1102, 502), ("wait", 6), ("shot", "preferences"), ("click", 640, 200), ("wait", 2),
                 ("shot", "preferences2"), _keys("Escape"), ("wait", 3),
                 ("click", 1102, 542), ("wait", 8), ("shot", "credits"), _keys("Escape"), ("wait", 3),
                 ("click", 174, 585), ("wait", 6), ("shot", "help"), _keys("Escape"), ("wait", 3),
                 ("click", 1102, 462), ("wait", 30), ("shot", "editor"), ("click", 600, 360), ("wait", 3),
                 ("shot", "editor2")],
                group="debian:wesnoth", note="title screen, dialogs and the map editor"),
    GameCapture("debian-kpat", "kpat", *_kpat("freecell"),
                also=[_kpat(game) for game in ("spider", "klondike", "golf", "yukon", "gypsy", "mod3", "grandf",
                                               "fortyeight", "simon")],
                dbus=True, group="debian:kpat", note="KDE patience card games (an unknown type shows the game chooser)"),
    GameCapture("debian-aisleriot", "aisleriot", *_aisleriot("klondike"),
                also=[_aisleriot(game) for game in ("freecell", "spider", "golf", "triple-peaks",
                                                    "canfield", "clock", "yukon", "camelot", "scorpion", "gaps")],
                dbus=True, group="debian:aisleriot", note="GNOME Aisleriot solitaire games"),
    GameCapture("debian-scummvm-queen", "flight-of-the-amazon-queen",
                ["/usr/games/scummvm", "-p", "/usr/share/scummvm/flight-of-the-amazon-queen", "--gfx-mode=2x", "queen"],
                _scummvm_steps("queen"), needs=["scummvm"], group="debian:scummvm-queen",
                note="Flight of the Amazon Queen (ScummVM): 2-D adventure rooms, intro, menus"),
    GameCapture("debian-scummvm-drascula", "drascula",
                ["/usr/games/scummvm", "-p", "/usr/share/scummvm/drascula/en", "--gfx-mode=2x", "drascula"],
                _scummvm_steps("drascula", skip_key="Return"), needs=["scummvm"], group="debian:scummvm-drascula",
                note="Drascula (ScummVM): cartoon adventure rooms"),
    GameCapture("debian-scummvm-sky", "beneath-a-steel-sky",
                ["/usr/games/scummvm", "-p", "/usr/share/scummvm/beneath-a-steel-sky", "--gfx-mode=2x", "sky"],
                _scummvm_steps("sky"), needs=["scummvm"], group="debian:scummvm-sky",
                note="Beneath a Steel Sky (ScummVM): adventure rooms, intro, control panel"),
    GameCapture("debian-renpy-thequestion", "renpy-thequestion",
                *_renpy("the_question", _renpy_story("question", 30)),
                also=[_renpy("the_question", _renpy_menus("question"))],
                prepare=prepare_renpy, needs=["renpy"], group="debian:renpy",
                note="Ren'Py visual novel: characters over backgrounds, dialogue box, choices (patched Ren'Py)"),
    GameCapture("debian-renpy-demo", "renpy-demo",
                *_renpy("demo", _renpy_story("demo", 40, choose_every=5)),
                also=[_renpy("demo", _renpy_menus("demo"))],
                prepare=prepare_renpy, needs=["renpy"], group="debian:renpy",
                note="Ren'Py's own tutorial game (Eileen explains the engine's features)"),
    GameCapture("debian-frozen-bubble", "frozen-bubble", ["/usr/games/frozen-bubble", "--no-sound"],
                # Return opens the one-player submenu, a second Return starts a level; Up shoots a bubble.
                [("window", 90), ("wait", 12), ("shot", "menu"), _keys("Down", "Down"), ("wait", 2), ("shot", "menu2"),
                 _keys("Up", "Up", "Return"), ("wait", 4), ("shot", "submenu"), _keys("Return"), ("wait", 8),
                 ("shot", "game1"), _keys("Left", "Left", "Left", "Up"), ("wait", 3), ("shot", "game2"),
                 _keys("Right", "Right", "Right", "Right", "Right", "Right", "Up"), ("wait", 3),
                 _keys("Left", "Left", "Up"), ("wait", 3), ("shot", "game3"),
                 _keys("Right", "Up", "Left", "Up", "Right", "Right", "Up"), ("wait", 4), ("shot", "game4"),
                 _keys("Escape"), ("wait", 3), ("shot", "after")],
                group="debian:frozen-bubble", note="Frozen Bubble: menus and bubble-shooter levels"),
    GameCapture("debian-pingus", "pingus", ["/usr/games/pingus", "--disable-sound", "--disable-music", "-g", "1280x720"],
                # The menus answer the mouse only; button centres at 1280x720.
                [("window", 90), ("wait", 15), ("shot", "menu"), ("click", 519, 340), ("wait", 8), ("shot", "story"),
                 ("click", 640, 600), ("wait", 6), ("shot", "story2"), ("click", 640, 600), ("wait", 6),
                 ("shot", "story3"), _keys("Escape"), ("wait", 4), _keys("Escape"), ("wait", 4),
                 ("click", 519, 409), ("wait", 8), ("shot", "levelsets"), ("click", 640, 300), ("wait", 6),
                 ("shot", "levels"), ("click", 640, 300), ("wait", 8), ("shot", "level-intro"), ("click", 640, 600),
                 ("wait", 10), ("shot", "level"), ("wait", 10), ("shot", "level-later"), _keys("Escape"), ("wait", 4),
                 _keys("Escape"), ("wait", 3), _keys("Escape"), ("wait", 3), ("click", 769, 409), ("wait", 6),
                 ("shot", "options"), _keys("Escape"), ("wait", 3), ("click", 769, 340), ("wait", 10),
                 ("shot", "editor")],
                group="debian:pingus", note="Pingus: menus, story screens, levels, editor"),
    GameCapture("debian-supertux", "supertux", ["/usr/games/supertux2", "--geometry", "1280x720", "--disable-sound"],
                [("window", 90), ("wait", 20), ("shot", "title"), ("click", 654, 274), ("wait", 4), ("shot", "start"),
                 ("click", 654, 300), ("wait", 12), ("shot", "worldmap"), _keys("Return"), ("wait", 4),
                 ("shot", "worldmap2"), _keys("space"), ("wait", 12), ("shot", "level"),
                 _keys("Right", "Right", "Right"), ("wait", 3), ("shot", "level2"), ("wait", 6), ("shot", "level3"),
                 _keys("Escape"), ("wait", 3), ("shot", "pause")],
                group="debian:supertux", note="SuperTux: title, world map, a level"),
    GameCapture("debian-flare", "flare-game", ["/usr/games/flare"],
                # First start asks for a movement type (Keyboard button), then the title menu (Play Game,
                # Configuration, Credits, Exit stacked at the bottom centre of the 640x480 window).
                [("window", 120), ("wait", 20), ("shot", "movement"), ("click", 169, 299), ("wait", 5),
                 ("shot", "title"), ("click", 320, 438), ("wait", 5), ("shot", "credits"), _keys("Escape"),
                 ("wait", 3), ("click", 320, 381), ("wait", 6), ("shot", "slots"), ("click", 320, 455),
                 ("wait", 6), ("shot", "new-game"), ("click", 560, 455), ("wait", 12), ("shot", "in-game"),
                 ("click", 420, 200), ("wait", 4), ("shot", "in-game2"), ("key", "c"), ("wait", 3),
                 ("shot", "character"), ("key", "i"), ("wait", 3), ("shot", "inventory")],
                group="debian:flare", note="Flare action RPG: menus, character creation, in game"),
    GameCapture("debian-gcompris", "gcompris-qt", *_gcompris(None),
                also=[_gcompris(activity) for activity in GCOMPRIS_ACTIVITIES],
                env={"QT_QUICK_BACKEND": "software"}, keep_home=True, group="debian:gcompris",
                note="GCompris educational activities (touch-style app screens)"),
]

CAPTURES += [
    GameCapture("debian-kde-games", "kdiamond", *_simple_game(["/usr/games/kdiamond"], "kdiamond"),
                also=[_simple_game([f"/usr/games/{game}"], game, package=game) for game in
                      ("kmahjongg", "kblocks", "kapman", "kbounce", "granatier", "knavalbattle", "kshisen", "klines")],
                dbus=True, group="debian:kde-games", note="KDE games: match-3, mahjongg, arcade, board games"),
    GameCapture("debian-gnome-games", "gnome-2048", *_simple_game(["/usr/games/gnome-2048"], "gnome-2048"),
                also=[_simple_game([f"/usr/games/{game}"], game, package=game) for game in
                      ("gnome-chess", "gnome-mahjongg", "gnome-mines", "iagno", "five-or-more", "tali", "quadrapassel",
                       "gweled")],
                dbus=True, group="debian:gnome-games", note="GNOME games (GTK): puzzles, board and dice games"),
    GameCapture("debian-arcade-games", "lbreakout2", *_simple_game(["/usr/games/lbreakout2"], "lbreakout2"),
                also=[_simple_game(["/usr/games/ltris"], "ltris", package="ltris"),
                      _simple_game(["/usr/games/blobwars"], "blobwars", package="blobwars"),
                      _simple_game(["/usr/games/tecnoballz"], "tecnoballz", package="tecnoballz"),
                      _simple_game(["/usr/games/lincity-ng"], "lincity-ng", package="lincity-ng"),
                      _simple_game(["/usr/games/pioneers"], "pioneers", package="pioneers"),
                      _simple_game(["/usr/games/hedgewars"], "hedgewars", package="hedgewars")],
                group="debian:arcade-games", note="SDL arcade games, a city builder, a board game, Hedgewars' menus"),
    GameCapture("debian-openttd", "openttd",
                ["/usr/games/openttd", "-r", "1280x720", "-s", "null", "-m", "null", "-g"],
                # -g starts a new game on a random map at once; toolbar buttons along the top edge.
                [("window", 120), ("wait", 30), ("shot", "start"), ("click", 640, 360), ("wait", 3), ("shot", "click"),
                 _keys("Right", "Right", "Right", "Right", "Down", "Down"), ("wait", 3), ("shot", "scroll"),
                 ("click", 100, 10), ("wait", 3), ("shot", "toolbar1"), _keys("Escape"), ("click", 300, 10),
                 ("wait", 3), ("shot", "toolbar2"), _keys("Escape"), ("click", 500, 10), ("wait", 3),
                 ("shot", "toolbar3"), _keys("Escape"), ("key", "F2"), ("wait", 3), ("shot", "towns"),
                 _keys("Escape"), ("key", "F4"), ("wait", 3), ("shot", "map"), ("wait", 20), ("shot", "later")],
                also=[(["/usr/games/openttd", "-r", "1280x720", "-s", "null", "-m", "null"],
                       [("window", 120), ("wait", 30), ("shot", "intro"), ("click", 640, 300), ("wait", 4),
                        ("shot", "intro-click"), ("wait", 15), ("shot", "intro-later")])],
                group="debian:openttd", note="OpenTTD with OpenGFX: a random new map, toolbars, windows"),
]

ALL_NAMES = [s.name for s in SOURCES] + [c.name for c in CAPTURES]


# ---- capture driver (runs inside xvfb-run) -------------------------------------------------------

def parse_window_list(xwininfo_children: str) -> list[tuple[int, int, int, int, int]]:
    """(id, x, y, w, h) of each child window listed by `xwininfo -root -children` (absolute x, y),
    skipping windows under 50 px (input-only helpers, icons)."""
    windows = []
    pattern = r"^\s+(0x[0-9a-fA-F]+) .*?(\d+)x(\d+)\+(-?\d+)\+(-?\d+)\s+\+(-?\d+)\+(-?\d+)\s*$"
    for match in re.finditer(pattern, xwininfo_children, re.M):
        w, h = int(match.group(2)), int(match.group(3))
        if w >= 50 and h >= 50:
            windows.append((int(match.group(1), 16), int(match.group(6)), int(match.group(7)), w, h))
    return windows


def _visible_windows() -> list[tuple[int, int, int, int, int]]:
    """(id, x, y, w, h) of every viewable top-level window, largest first.

    Why xwininfo and not `xdotool search --onlyvisible`: xdotool missed Ren'Py's (pygame_sdl2) window."""
    try:
        tree = run(["xwininfo", "-root", "-children"]).stdout
    except (subprocess.CalledProcessError, FileNotFoundError):
        return []
    windows = []
    for window in parse_window_list(tree):
        try:
            state = run(["xwininfo", "-id", hex(window[0])]).stdout
        except subprocess.CalledProcessError:
            continue
        if "IsViewable" in state:
            windows.append(window)
    return sorted(windows, key=lambda w: -w[3] * w[4])


def _main_window():
    windows = [w for w in _visible_windows() if w[3] >= 300 and w[4] >= 200]
    return windows[0] if windows else None


def _capture_screen(screen: tuple[int, int]) -> Image.Image:
    png = subprocess.run(["import", "-silent", "-window", "root", "png:-"], check=True, capture_output=True).stdout
    image = Image.open(io.BytesIO(png)).convert("RGB")
    window = _main_window()
    if window:
        _, x, y, w, h = window
        box = (max(0, x), max(0, y), min(screen[0], x + w), min(screen[1], y + h))
        if box[2] - box[0] >= 300 and box[3] - box[1] >= 200:
            image = image.crop(box)
    return image


def _focus(window) -> None:
    if window:
        subprocess.run(["xdotool", "windowfocus", "--sync", str(window[0])], capture_output=True, timeout=10)


def capture_inner(capture: GameCapture, shots_dir: Path, cache_dir: Path, log) -> None:
    """Plays every session of `capture` on the current DISPLAY, one after the other; writes
    s<session>-<shot>.png files into shots_dir."""
    shots_dir.mkdir(parents=True, exist_ok=True)
    home = None
    if capture.keep_home:
        home = shots_dir / "home"
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir()
    for number, (command, steps, package) in enumerate(capture.sessions):
        if installed_version(package) is None:
            continue
        command = [part.format(cache=cache_dir) for part in command]
        for attempt in (1, 2):
            log(f"    session {number}: {' '.join(command)}" + (" (again)" if attempt == 2 else ""))
            try:
                play_session(command, steps, capture, shots_dir, f"s{number}-", log, home)
            except (subprocess.SubprocessError, OSError) as error:
                log(f"    session {number} failed: {error}")
            # A game that died before its first shot (display not ready, a crash) gets one more try.
            if any(shots_dir.glob(f"s{number}-*.png")):
                break


def play_session(command, steps, capture: GameCapture, shots_dir: Path, prefix: str, log,
                 home: Path | None = None) -> None:
    """Starts the game with a fresh HOME (no saved settings) unless given one, plays the steps, always
    ends the game. A step that fails (a hung xdotool) is logged and skipped."""
    own_home = home is None
    home = Path(tempfile.mkdtemp(prefix="illust-capture-home-")) if own_home else home
    env = dict(os.environ, HOME=str(home), SDL_AUDIODRIVER="dummy", LIBGL_ALWAYS_SOFTWARE="1",
               XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
               QT_QPA_PLATFORM="xcb", **capture.env)
    game_log = (shots_dir / f"{prefix}game.log").open("wb")  # kept beside the shots for debugging
    game = subprocess.Popen(command, env=env, stdout=game_log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        for step in steps:
            if game.poll() is not None:
                log(f"    game exited with {game.returncode} before step {step}")
                break
            try:
                if not play_step(step, game, capture, shots_dir, prefix, log):
                    break
            except (subprocess.SubprocessError, OSError) as error:
                log(f"    step {step} failed: {error}")
    finally:
        try:
            os.killpg(game.pid, 15)
            game.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(game.pid, 9)
            except ProcessLookupError:
                pass
        game_log.close()
        if own_home:
            shutil.rmtree(home, ignore_errors=True)


def play_step(step: tuple, game, capture: GameCapture, shots_dir: Path, prefix: str, log) -> bool:
    """Plays one step; returns False when the session cannot go on (its window never came)."""
    kind = step[0]
    if kind == "window":
        deadline = time.monotonic() + step[1]
        while _main_window() is None and time.monotonic() < deadline and game.poll() is None:
            time.sleep(2)
        if _main_window() is None:
            log(f"    no window after {step[1]} s")
            return False
    elif kind == "wait":
        time.sleep(step[1])
    elif kind == "key":
        _focus(_main_window())
        for key in step[1:]:
            subprocess.run(["xdotool", "key", "--clearmodifiers", key], capture_output=True, timeout=10)
            time.sleep(0.4)
    elif kind == "click":
        window = _main_window()
        _focus(window)
        x0, y0, w, h = window[1:] if window else (0, 0, *capture.screen)
        # Floats below 1 are fractions of the window size (for games whose size is unknown).
        x = x0 + (round(step[1] * w) if isinstance(step[1], float) and step[1] < 1 else step[1])
        y = y0 + (round(step[2] * h) if isinstance(step[2], float) and step[2] < 1 else step[2])
        # No --sync: it waits for a pointer motion, forever when the pointer is already there.
        subprocess.run(["xdotool", "mousemove", str(x), str(y)], capture_output=True, timeout=10)
        time.sleep(0.3)
        subprocess.run(["xdotool", "click", "1"], capture_output=True, timeout=10)
    elif kind == "shot":
        image = _capture_screen(capture.screen)
        image.save(shots_dir / f"{prefix}{step[1]}.png")
        log(f"    shot {prefix}{step[1]} {image.width}x{image.height}")
    else:
        raise ValueError(f"unknown capture step {step!r}")
    return True


def run_capture(capture: GameCapture, shots_dir: Path, cache_dir: Path, timeout: int, log) -> list[Path]:
    """Runs capture_inner in a fresh Xvfb (game and capture in the same xvfb-run), niced."""
    shutil.rmtree(shots_dir, ignore_errors=True)
    width, height = capture.screen
    inner = [sys.executable, str(Path(__file__).resolve()), "--inner-capture", capture.name,
             "--inner-shots-dir", str(shots_dir), "--cache-dir", str(cache_dir)]
    if capture.dbus:
        inner = ["dbus-run-session", "--"] + inner
    command = ["nice", "-n", "19", "xvfb-run", "-a", "-s", f"-screen 0 {width}x{height}x24 +extension GLX"] + inner
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        for line in result.stdout.splitlines():
            log(line)
        if result.returncode:
            log(f"  capture {capture.name} exited {result.returncode}: {result.stderr.strip()[-500:]}")
    except subprocess.TimeoutExpired:
        log(f"  capture {capture.name} timed out after {timeout} s")
    return sorted(shots_dir.glob("*.png"))


def render_html(page: Path, viewport: tuple[int, int], out_png: Path) -> bool:
    """Headless Chromium screenshot of a local page at a viewport; False when Chromium fails."""
    with tempfile.TemporaryDirectory(prefix="illust-chromium-") as profile:
        command = ["nice", "-n", "19", "chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
                   "--no-first-run", "--disable-background-networking", "--disable-component-update",
                   "--disable-sync", f"--user-data-dir={profile}", "--hide-scrollbars",
                   f"--window-size={viewport[0]},{viewport[1]}", f"--screenshot={out_png}", page.as_uri()]
        try:
            subprocess.run(command, capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            return False
    return out_png.is_file() and out_png.stat().st_size > 0


# ---- gathering --------------------------------------------------------------------------------------

@dataclass
class Candidate:
    """One original image before conversion."""
    package: str
    version: str
    path_in_package: str
    data: bytes
    licence: str
    name_hint: str = ""            # file name stem when path_in_package is not a path (captures, renders)


class Gatherer:
    def __init__(self, args, log):
        self.args = args
        self.log = log
        self.index = NearDuplicateIndex(args.dhash_threshold, args.phash_threshold)
        self.rows: list[dict] = []

    # -- near-duplicate index seeded from images already kept
    def seed_index(self, folder: Path, label: str) -> None:
        """Adds every <class>/<source>/*.jpg under folder to the near-duplicate index."""
        count = 0
        for path in sorted(folder.glob("*/*/*.jpg")):
            try:
                with Image.open(path) as image:
                    self.index.add(image.convert("RGB"), f"{label}:{path.relative_to(folder)}")
                count += 1
            except OSError:
                continue
        self.log(f"dedupe index: {count} images from {label} {folder}")

    def keep(self, source_name: str, label: str, group: str, candidates: list[Candidate], cap: int) -> int:
        """Converts, de-duplicates and caps candidates, writes JPEGs and manifest rows. Returns kept count."""
        out_dir = self.args.out / label / source_name
        if out_dir.exists() and not self.args.dry_run:
            shutil.rmtree(out_dir)
        self.rows = [r for r in self.rows if not (r["class"] == label and r["source"] == source_name)]
        rng = random.Random(f"{self.args.seed}:{source_name}")
        order = sorted(candidates, key=lambda c: c.path_in_package)
        rng.shuffle(order)  # when the cap bites, keep a spread, not the alphabetically first
        kept = skipped_dup = skipped_bad = skipped_plain = 0
        for candidate in order:
            if kept >= cap:
                break
            try:
                image, original_size = convert_image(candidate.data)
            except ConversionError as error:
                skipped_bad += 1
                self.log(f"    skip {candidate.path_in_package}: {error}")
                continue
            if detail_level(image) < self.args.min_detail or max(image.size) > 4 * min(image.size):
                skipped_plain += 1
                continue
            sha = hashlib.sha256(candidate.data).hexdigest()
            twin = self.index.find(image)
            if twin:
                skipped_dup += 1
                continue
            file = output_file_name(candidate.name_hint or candidate.path_in_package, sha)
            self.index.add(image, f"{label}/{source_name}/{file}")
            if not self.args.dry_run:
                save_jpeg(image, out_dir / file)
            self.rows.append({"class": label, "source": source_name, "file": file, "repo": group,
                              "package": candidate.package, "version": candidate.version,
                              "path_in_package": candidate.path_in_package, "original_sha256": sha,
                              "original_width": original_size[0], "original_height": original_size[1],
                              "license": candidate.licence})
            kept += 1
        self.log(f"  {label}/{source_name}: kept {kept} of {len(candidates)} candidates "
                 f"({skipped_dup} near-duplicates, {skipped_plain} plain or strip-shaped, {skipped_bad} undecodable, cap {cap})")
        return kept

    def package_candidates(self, source: PackageImages) -> list[Candidate]:
        candidates = []
        for package in source.packages:
            try:
                root, version = fetch_package(package, self.args.cache_dir, self.log)
            except (RuntimeError, subprocess.CalledProcessError) as error:
                self.log(f"  {package}: cannot fetch: {getattr(error, 'stderr', '') or error}")
                continue
            licence = package_licence(root, package, fetch=self._fetch_root)
            for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
                relative = path.relative_to(root).as_posix()
                if not any(fnmatch.fnmatch(relative, pat) for pat in source.include):
                    continue
                if any(fnmatch.fnmatch(relative, pat) for pat in source.exclude):
                    continue
                if source.rcc:
                    candidates += self._rcc_candidates(source, package, version, relative, path, licence)
                elif path.suffix.lower() in IMAGE_SUFFIXES and self._big_enough(path.read_bytes(), source.min_side):
                    candidates.append(Candidate(package, version, relative, path.read_bytes(), licence))
        return candidates

    def _fetch_root(self, package: str) -> Path | None:
        try:
            return fetch_package(package, self.args.cache_dir, self.log)[0]
        except (RuntimeError, subprocess.CalledProcessError):
            return None

    def _rcc_candidates(self, source, package, version, relative, path, licence) -> list[Candidate]:
        try:
            members = read_rcc(path.read_bytes())
        except (ValueError, zlib.error) as error:
            self.log(f"    {relative}: {error}")
            return []
        out = []
        for member, data in sorted(members.items()):
            inner = f"{relative}!/{member}"
            if not any(fnmatch.fnmatch("/" + member, pat) for pat in source.member_include):
                continue
            if any(fnmatch.fnmatch(inner, pat) for pat in source.exclude):
                continue
            if Path(member).suffix.lower() in IMAGE_SUFFIXES and self._big_enough(data, source.min_side):
                out.append(Candidate(package, version, inner, data, licence))
        return out

    @staticmethod
    def _big_enough(data: bytes, min_side: int) -> bool:
        try:
            with Image.open(io.BytesIO(data)) as image:
                return min(image.size) >= min_side
        except (OSError, ValueError, Image.DecompressionBombError):
            return True  # let conversion report it

    def capture_candidates(self, capture: GameCapture) -> list[Candidate]:
        installed = {package: installed_version(package) for _, _, package in capture.sessions}
        missing = sorted(p for p, v in installed.items() if v is None)
        if missing:
            self.log(f"  {capture.name}: not installed: {' '.join(missing)} (use --install); their sessions are skipped")
        if all(v is None for v in installed.values()):
            return []
        shots_dir = self.args.cache_dir / "captures" / capture.name
        if capture.prepare:
            try:
                capture.prepare(self.args.cache_dir)
            except (OSError, RuntimeError) as error:
                self.log(f"  {capture.name}: cannot prepare: {error}")
                return []
        shots = run_capture(capture, shots_dir, self.args.cache_dir, self.args.capture_timeout * len(capture.sessions),
                            self.log)
        licences = {p: package_licence(Path("/"), p) for p, v in installed.items() if v}
        candidates = []
        for shot in shots:
            number, _, name = shot.stem.partition("-")
            command, _, package = capture.sessions[int(number[1:])]
            command = [part.format(cache="<cache>") for part in command]
            candidates.append(Candidate(package, installed[package], f"xvfb-capture:{' '.join(command)}#{name}",
                                        shot.read_bytes(), licences[package], name_hint=f"{capture.name}-{shot.stem}"))
        return candidates

    def html_candidates(self, render: HtmlRender) -> list[Candidate]:
        try:
            root, version = fetch_package(render.package, self.args.cache_dir, self.log)
        except (RuntimeError, subprocess.CalledProcessError) as error:
            self.log(f"  {render.package}: cannot fetch: {getattr(error, 'stderr', '') or error}")
            return []
        licence = package_licence(root, render.package, fetch=self._fetch_root)
        pages = sorted(p for p in root.rglob("*.html")
                       if any(fnmatch.fnmatch(p.relative_to(root).as_posix(), pat) for pat in render.include))
        step = max(1, len(pages) // max(1, render.pages))
        pages = pages[::step][:render.pages]
        out_dir = self.args.cache_dir / "html" / render.name
        out_dir.mkdir(parents=True, exist_ok=True)
        candidates = []
        for index, page in enumerate(pages):
            viewport = render.viewports[index % len(render.viewports)]
            png = out_dir / f"{page.stem}-{viewport[0]}x{viewport[1]}.png"
            if png.is_file() or render_html(page, viewport, png):
                relative = page.relative_to(root).as_posix()
                candidates.append(Candidate(render.package, version,
                                            f"chromium-render:{relative}@{viewport[0]}x{viewport[1]}",
                                            png.read_bytes(), licence, name_hint=png.stem))
        return candidates


def summary_table(rows: list[dict]) -> str:
    """Markdown: one line per class/source with image count, packages and licences, then class totals."""
    by_source: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        by_source.setdefault((row["class"], row["source"]), []).append(row)
    notes = {s.name: s.note for s in SOURCES + CAPTURES}
    lines = ["| class | source | images | packages | licence | what |", "|---|---|---|---|---|---|"]
    for (label, source), group in sorted(by_source.items()):
        packages = sorted({r["package"] for r in group})
        licences = sorted({r["license"] for r in group})
        shown = ", ".join(packages[:4]) + (f" +{len(packages) - 4}" if len(packages) > 4 else "")
        lines.append(f"| {label} | {source} | {len(group)} | {shown} | {'; '.join(licences)[:80]} | {notes.get(source, '')} |")
    totals = {label: sum(1 for r in rows if r["class"] == label) for label in LABELS}
    lines.append("")
    lines.append("Totals: " + ", ".join(f"{label} {count}" for label, count in totals.items()) + f", all {len(rows)}.")
    return "\n".join(lines)


def install_packages(packages: list[str], log) -> None:
    log(f"apt-get install {' '.join(packages)}")
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends"] + packages, check=True,
                   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


CAPTURE_TOOLS = ["xvfb", "xauth", "imagemagick", "xdotool", "x11-utils", "dbus", "chromium"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/work/extra-data"), help="output data folder")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "illust-only-debian",
                        help="downloaded .debs, extracted trees, raw captures")
    parser.add_argument("--only", nargs="+", metavar="SOURCE", default=None,
                        help=f"gather only these sources (others keep their manifest rows): {', '.join(ALL_NAMES)}")
    parser.add_argument("--skip", nargs="+", metavar="SOURCE", default=[], help="sources to leave out")
    parser.add_argument("--kind", choices=["all", "packages", "captures", "html"], default="all",
                        help="which kind of source to gather")
    parser.add_argument("--cap", type=int, default=120, help="most images kept per source")
    parser.add_argument("--seed", type=int, default=0, help="seed for which images a capped source keeps")
    parser.add_argument("--dhash-threshold", type=int, default=10, help="max dHash bit distance of a near-duplicate")
    parser.add_argument("--phash-threshold", type=int, default=10, help="max pHash bit distance of a near-duplicate")
    parser.add_argument("--min-detail", type=float, default=1.2,
                        help="drop images whose detail level (see detail_level) is below this: blank fills, gradients")
    parser.add_argument("--dedupe-against", type=Path, nargs="*",
                        default=[Path(os.environ.get("ILLUST_ONLY_DATA", REPO_ROOT.parent / "shared" / "data"))],
                        help="data folders whose images count as already seen")
    parser.add_argument("--capture-timeout", type=int, default=600, help="seconds one game capture may take")
    parser.add_argument("--install", action="store_true",
                        help="apt-get install the capture tools and the selected captures' games first (root); "
                             "with --list, install and stop")
    parser.add_argument("--dry-run", action="store_true",
                        help="fetch and select but write no images or manifest; print what would be kept")
    parser.add_argument("--list", action="store_true", help="list the sources and exit")
    parser.add_argument("--summary", action="store_true",
                        help="print a markdown table of what --out holds (from its manifest) and exit")
    parser.add_argument("--inner-capture", help=argparse.SUPPRESS)
    parser.add_argument("--inner-shots-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = [n for n in (args.only or []) + args.skip if n not in ALL_NAMES]
    if unknown:
        parser.error(f"unknown source(s) {', '.join(unknown)}; known: {', '.join(ALL_NAMES)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    log = lambda message: print(message, flush=True)
    if args.inner_capture:
        capture_inner(next(c for c in CAPTURES if c.name == args.inner_capture), args.inner_shots_dir,
                      args.cache_dir, log)
        return 0
    selected = lambda name: (args.only is None or name in args.only) and name not in args.skip
    kinds = {"packages": (PackageImages,), "captures": (GameCapture,), "html": (HtmlRender,),
             "all": (PackageImages, GameCapture, HtmlRender)}[args.kind]
    work = [s for s in SOURCES + CAPTURES if selected(s.name) and isinstance(s, kinds)]
    if args.summary:
        log(summary_table(read_manifest(args.out / "manifest.tsv")))
        return 0
    if args.install:
        needed = set(CAPTURE_TOOLS)
        for s in work:
            if isinstance(s, GameCapture):
                needed.update([package for _, _, package in s.sessions] + s.needs)
        install_packages(sorted(needed), log)
    if args.list:
        for s in SOURCES + CAPTURES:
            what = getattr(s, "packages", None) or (
                sorted({package for _, _, package in s.sessions}) if isinstance(s, GameCapture) else [s.package])
            log(f"{s.label:13} {s.name:30} {' '.join(what)}  {s.note}")
        return 0
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / "manifest.tsv"
    gatherer = Gatherer(args, log)
    gatherer.rows = read_manifest(manifest_path)
    names_in_work = {(s.label, s.name) for s in work}
    for folder in args.dedupe_against:
        if folder.is_dir() and folder.resolve() != args.out.resolve():
            gatherer.seed_index(folder, str(folder))
    defined = {(s.label, s.name) for s in SOURCES + CAPTURES}
    stale = {(r["class"], r["source"]) for r in gatherer.rows} - defined
    if stale and not args.dry_run:
        # A source renamed or relabelled here: its old folder and rows would mislabel images.
        for label, name in sorted(stale):
            log(f"removing stale source {label}/{name}")
            if name.startswith("debian-"):
                shutil.rmtree(args.out / label / name, ignore_errors=True)
        gatherer.rows = merge_manifest(manifest_path, [], stale)
    # Images already gathered from sources not redone now also count as seen.
    for row in gatherer.rows:
        if (row["class"], row["source"]) in names_in_work:
            continue
        path = args.out / row["class"] / row["source"] / row["file"]
        if path.is_file():
            with Image.open(path) as image:
                gatherer.index.add(image.convert("RGB"), f"{row['class']}/{row['source']}/{row['file']}")
    done: set[tuple[str, str]] = set()
    for source in work:
        log(f"{source.label}/{source.name}")
        cap = source.cap or args.cap
        if isinstance(source, PackageImages):
            candidates = gatherer.package_candidates(source)
        elif isinstance(source, GameCapture):
            candidates = gatherer.capture_candidates(source)
        else:
            candidates = gatherer.html_candidates(source)
        gatherer.keep(source.name, source.label, source.group or f"debian:{source.name}", candidates, cap)
        done.add((source.label, source.name))
        if not args.dry_run:
            gatherer.rows = merge_manifest(manifest_path, gatherer.rows, done)
        with (args.cache_dir / "last-run-args.json").open("w") as handle:
            json.dump({k: str(v) for k, v in vars(args).items()}, handle, indent=1)
    counts = {}
    for row in gatherer.rows:
        counts[(row["class"], row["source"])] = counts.get((row["class"], row["source"]), 0) + 1
    for (label, source), count in sorted(counts.items()):
        log(f"{label}\t{source}\t{count}")
    log(f"total {sum(counts.values())} images in {manifest_path}{' (dry run: nothing written)' if args.dry_run else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
