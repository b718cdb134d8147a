"""Tests for tools/training/gather_debian_images.py on small images generated here: the conversion recipe shared
with ../shared/data (size, mode, EXIF orientation, alpha on white), the perceptual near-duplicate index,
the manifest, licences from debian/copyright, the Qt .rcc reader, and one keep() pass end to end.

Why: the gathered images train the classifier; a silent change (upscaling, black instead of white behind
transparency, duplicates leaking across sources, a manifest row lost) would skew training unnoticed.
No network, no Debian packages, no X server needed.
"""
import argparse
import io
import struct
import tempfile
import unittest
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from tests.python import _support  # noqa: F401  (puts tools/training/ on sys.path)
import gather_debian_images as gather


def png_bytes(image: Image.Image, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **save)
    return buffer.getvalue()


def jpeg_bytes(image: Image.Image, quality=90, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, **save)
    return buffer.getvalue()


def textured(seed: int, size=(320, 240)) -> Image.Image:
    """A picture-like image: smooth random blobs, different for each seed."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    return Image.fromarray(small).resize(size, Image.BICUBIC)


def ramp(width, height) -> Image.Image:
    """A plain sky-like gradient: what detail_level must reject."""
    return Image.fromarray(np.tile(np.linspace(60, 190, width).astype(np.uint8), (height, 1))).convert("RGB")


class DetailLevelTest(unittest.TestCase):
    def test_plain_fills_and_gradients_score_low_and_pictures_high(self):
        self.assertLess(gather.detail_level(Image.new("RGB", (300, 200), (30, 90, 200))), 0.01)
        self.assertLess(gather.detail_level(ramp(800, 600)), 1.0)
        self.assertGreater(gather.detail_level(textured(1, (800, 600))), 1.5)


class ConvertImageTest(unittest.TestCase):
    def test_large_image_is_scaled_to_640_on_its_longest_side_keeping_aspect(self):
        image, original = gather.convert_image(png_bytes(textured(1, (1600, 900))))
        self.assertEqual(original, (1600, 900))
        self.assertEqual(image.mode, "RGB")
        self.assertEqual(image.size, (640, 360))

    def test_small_image_is_not_upscaled(self):
        image, _ = gather.convert_image(png_bytes(textured(2, (300, 200))))
        self.assertEqual(image.size, (300, 200))

    def test_transparency_is_flattened_on_white(self):
        rgba = Image.new("RGBA", (100, 50), (200, 0, 0, 255))
        rgba.paste((0, 0, 0, 0), (0, 0, 50, 50))  # left half fully transparent (black underneath)
        image, _ = gather.convert_image(png_bytes(rgba))
        self.assertEqual(image.mode, "RGB")
        self.assertEqual(image.getpixel((10, 10)), (255, 255, 255))
        self.assertEqual(image.getpixel((90, 10)), (200, 0, 0))

    def test_palette_transparency_is_flattened_on_white(self):
        palette = Image.new("P", (40, 40), 0)
        palette.putpalette([0, 0, 0, 0, 128, 0] + [0] * 762)
        palette.paste(1, (20, 0, 40, 40))
        image, _ = gather.convert_image(png_bytes(palette, transparency=0))
        self.assertEqual(image.getpixel((5, 5)), (255, 255, 255))
        self.assertEqual(image.getpixel((30, 5)), (0, 128, 0))

    def test_exif_orientation_is_applied(self):
        source = Image.new("RGB", (200, 100), (0, 0, 255))
        source.paste((255, 0, 0), (0, 0, 20, 100))  # red band on the left as stored
        exif = Image.Exif()
        exif[0x0112] = 6  # "rotate 90 CW to display"
        image, original = gather.convert_image(jpeg_bytes(source, exif=exif.tobytes()))
        self.assertEqual(original, (200, 100))
        self.assertEqual(image.size, (100, 200))
        red, green, blue = image.getpixel((50, 5))  # the left band is now on top
        self.assertGreater(red, 200)
        self.assertLess(blue, 60)

    def test_sixteen_bit_greyscale_keeps_its_range(self):
        ramp = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (16, 1))
        image, _ = gather.convert_image(png_bytes(Image.fromarray(ramp)))
        pixels = np.asarray(image)
        self.assertLess(pixels[:, 0].max(), 10)
        self.assertGreater(pixels[:, -1].min(), 245)

    def test_bad_inputs_raise_conversion_error(self):
        good = jpeg_bytes(textured(3))
        for name, data in {"empty": b"", "not an image": b"hello world" * 10,
                           "truncated": good[:len(good) // 2], "corrupt header": b"\x89PNG\r\n\x1a\n" + b"\0" * 40}.items():
            with self.subTest(name), self.assertRaises(gather.ConversionError):
                gather.convert_image(data)

    def test_decompression_bomb_is_refused_before_decoding(self):
        header = Image.new("L", (1, 1))
        data = bytearray(png_bytes(header))
        # Rewrite the IHDR size to 20000x20000 (400 MP) and fix its CRC: only the header is read.
        struct.pack_into(">II", data, 16, 20000, 20000)
        struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
        with self.assertRaises(gather.ConversionError) as caught:
            gather.convert_image(bytes(data))
        self.assertIn("too large", str(caught.exception))

    def test_saved_file_is_a_quality_85_jpeg(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "a" / "b.jpg"
            image, _ = gather.convert_image(png_bytes(textured(4)))
            gather.save_jpeg(image, path)
            with Image.open(path) as saved:
                self.assertEqual(saved.format, "JPEG")
                self.assertEqual(saved.mode, "RGB")
                # PIL's quality-85 luminance table starts with 5 (quality 90 would start with 3).
                self.assertEqual(saved.quantization[0][0], 5)


class NearDuplicateTest(unittest.TestCase):
    def test_rescaled_recompressed_copy_is_close_and_other_image_is_far(self):
        original = textured(5, (640, 480))
        copy = Image.open(io.BytesIO(jpeg_bytes(original.resize((320, 240)), quality=40)))
        other = textured(6, (640, 480))
        self.assertLessEqual(gather.hamming(gather.dhash(original), gather.dhash(copy)), 4)
        self.assertLessEqual(gather.hamming(gather.phash(original), gather.phash(copy)), 4)
        self.assertGreater(gather.hamming(gather.dhash(original), gather.dhash(other)), 12)
        self.assertGreater(gather.hamming(gather.phash(original), gather.phash(other)), 12)

    def test_index_finds_copies_and_keeps_distinct_images(self):
        index = gather.NearDuplicateIndex()
        for seed in range(10):
            index.add(textured(seed), f"image{seed}")
        copy = Image.open(io.BytesIO(jpeg_bytes(textured(7).resize((200, 150)), quality=50)))
        self.assertEqual(index.find(copy), "image7")
        self.assertIsNone(index.find(textured(99)))
        self.assertEqual(len(index), 10)

    def test_hashes_are_64_bit(self):
        for value in (gather.dhash(textured(1)), gather.phash(textured(1))):
            self.assertGreaterEqual(value, 0)
            self.assertLess(value, 1 << 64)


class ManifestTest(unittest.TestCase):
    def row(self, source, file, **extra):
        return dict({"class": "photo", "source": source, "file": file, "repo": "debian:x", "package": "x",
                     "version": "1:2.0-1", "path_in_package": "usr/share/x/a.png", "original_sha256": "ab" * 32,
                     "original_width": 10, "original_height": 20, "license": "GPL-2+"}, **extra)

    def test_round_trip_sorted_with_all_columns_and_no_stray_tabs(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "manifest.tsv"
            gather.write_manifest(path, [self.row("debian-b", "z.jpg"),
                                         self.row("debian-a", "y.jpg", license="GPL\tor\nMIT")])
            lines = path.read_text().splitlines()
            self.assertEqual(lines[0].split("\t"), list(gather.MANIFEST_COLUMNS))
            self.assertTrue(all(len(line.split("\t")) == len(gather.MANIFEST_COLUMNS) for line in lines))
            rows = gather.read_manifest(path)
            self.assertEqual([r["source"] for r in rows], ["debian-a", "debian-b"])
            self.assertEqual(rows[0]["license"], "GPL or MIT")
            self.assertEqual(rows[1]["original_height"], "20")

    def test_merge_replaces_only_the_given_sources(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "manifest.tsv"
            gather.write_manifest(path, [self.row("debian-a", "1.jpg"), self.row("debian-b", "2.jpg")])
            merged = gather.merge_manifest(path, [self.row("debian-b", "3.jpg"), self.row("debian-c", "4.jpg")],
                                           {("photo", "debian-b")})
            self.assertEqual(sorted(r["file"] for r in merged), ["1.jpg", "3.jpg"])
            self.assertEqual(sorted(r["file"] for r in gather.read_manifest(path)), ["1.jpg", "3.jpg"])

    def test_output_file_names_are_safe_and_unique_per_hash(self):
        name = gather.output_file_name("usr/share/games/x y/images/land/beach (1)@2x.jpg", "0123456789abcdef")
        self.assertEqual(name, "images__land__beach_1_2x_01234567.jpg")
        self.assertNotEqual(name, gather.output_file_name("usr/share/games/x y/images/land/beach (1)@2x.jpg", "f" * 64))
        self.assertTrue(gather.output_file_name("xvfb-capture:/usr/games/q -p /x#shot-1", "ab" * 32).endswith(".jpg"))


class LicenceTest(unittest.TestCase):
    def test_machine_readable_copyright_uses_the_files_star_paragraph(self):
        text = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
                "Files: *\nCopyright: 2003 Someone\nLicense: GPL-2+\n\n"
                "Files: debian/*\nCopyright: 2010 Packager\nLicense: GPL-3+\n\n"
                "License: GPL-2+\n This program is free software...\n")
        self.assertEqual(gather.licence_from_copyright(text), "GPL-2+")
        self.assertEqual(gather.licence_from_copyright(text, "debian/rules"), "GPL-3+")

    def test_doc_folder_linked_to_a_sibling_package_is_followed(self):
        with tempfile.TemporaryDirectory() as tmp:
            data_root, sibling_root = Path(tmp) / "data", Path(tmp) / "sibling"
            (data_root / "usr/share/doc").mkdir(parents=True)
            (data_root / "usr/share/doc/help-en").symlink_to("help-common-for-test")
            (sibling_root / "usr/share/doc/help-common-for-test").mkdir(parents=True)
            (sibling_root / "usr/share/doc/help-common-for-test/copyright").write_text(
                "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
                "Files: *\nCopyright: 2000 Writers\nLicense: GFDL-NIV-1.2+\n")
            fetched = []
            fetch = lambda name: fetched.append(name) or sibling_root
            self.assertEqual(gather.package_licence(data_root, "help-en", fetch=fetch), "GFDL-NIV-1.2+")
            self.assertEqual(fetched, ["help-common-for-test"])
            self.assertEqual(gather.package_licence(data_root, "help-en"), "unknown")

    def test_free_form_copyright_names_what_it_mentions(self):
        licence = gather.licence_from_copyright("This package is under the GNU General Public License, version 2.")
        self.assertIn("GPL-2+", licence)
        self.assertEqual(gather.licence_from_copyright("All rights reserved."), "unknown")


def build_rcc(files: dict[str, bytes], compress: set[str] = frozenset()) -> bytes:
    """A version-1 Qt resource archive of one directory level: <dir>/<name> -> bytes (what rcc writes)."""
    directory = sorted({path.split("/")[0] for path in files})
    assert len(directory) == 1
    names = [directory[0]] + sorted(path.split("/")[1] for path in files)
    names_blob, name_offsets = b"", {}
    for name in names:
        name_offsets[name] = len(names_blob)
        names_blob += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")
    data_blob, data_offsets = b"", {}
    for path in sorted(files):
        payload = files[path]
        if path in compress:
            payload = struct.pack(">I", len(payload)) + zlib.compress(payload)
        data_offsets[path] = len(data_blob)
        data_blob += struct.pack(">I", len(payload)) + payload
    children = sorted(files)
    tree = struct.pack(">IHII", 0, 2, 1, 1)                                      # root: one child at node 1
    tree += struct.pack(">IHII", name_offsets[directory[0]], 2, len(children), 2)  # the directory
    for path in children:
        flags = 1 if path in compress else 0
        tree += struct.pack(">IHHHI", name_offsets[path.split("/")[1]], flags, 0, 0, data_offsets[path])
    header_size = 20
    tree_offset, data_offset = header_size, header_size + len(tree)
    names_offset = data_offset + len(data_blob)
    return b"qres" + struct.pack(">IIII", 1, tree_offset, data_offset, names_offset) + tree + data_blob + names_blob


class ReadRccTest(unittest.TestCase):
    def test_reads_plain_and_zlib_members(self):
        photo = jpeg_bytes(textured(8))
        archive = build_rcc({"act/photo.jpg": photo, "act/Main.qml": b"Item {}\n"}, compress={"act/Main.qml"})
        self.assertEqual(gather.read_rcc(archive), {"act/photo.jpg": photo, "act/Main.qml": b"Item {}\n"})

    def test_malformed_archives_raise_value_error(self):
        archive = build_rcc({"act/photo.jpg": b"x" * 10})
        for data in (b"", b"PK\x03\x04", archive[:30]):
            with self.subTest(len(data)), self.assertRaises(ValueError):
                gather.read_rcc(data)


class WindowListTest(unittest.TestCase):
    def test_parses_xwininfo_children_with_absolute_positions(self):
        listing = (
            "\nxwininfo: Window id: 0x50d (the root window) (has no name)\n\n"
            "  Root window id: 0x50d (the root window) (has no name)\n  Parent window id: 0x0 (none)\n"
            "     3 children:\n"
            '     0x600006 "The Question": ("python3.11" "python3.11")  1099x618+90+51  +90+51\n'
            "     0x200001 (has no name): ()  10x10+-20+-20  +-20+-20\n"
            '     0x400003 "Flight of the Amazon Queen": ("scummvm" "scummvm")  640x400+0+0  +320+160\n')
        self.assertEqual(gather.parse_window_list(listing),
                         [(0x600006, 90, 51, 1099, 618), (0x400003, 320, 160, 640, 400)])


RENPY_PYTHON = Path("/usr/share/games/renpy/renpy/python.py")


class RenpyPatchTest(unittest.TestCase):
    """The Python 3.11 fix for Debian's Ren'Py, applied to the installed file when there is one."""

    def load_fixer(self, source: str):
        import ast
        tree = ast.parse(source)
        function = next(node for node in tree.body if isinstance(node, ast.FunctionDef)
                        and node.name == "fix_missing_locations")
        namespace = {"ast": ast}
        exec(compile(ast.Module(body=[function], type_ignores=[]), str(RENPY_PYTHON), "exec"), namespace)
        return namespace["fix_missing_locations"]

    def test_patched_fixer_makes_bad_end_positions_compile(self):
        import ast
        if not RENPY_PYTHON.is_file():
            raise unittest.SkipTest(f"{RENPY_PYTHON} not installed (apt-get install renpy)")
        original = RENPY_PYTHON.read_text()
        self.assertEqual(original.count(gather.RENPY_LINE_FIX[0]), 1)
        patched = self.load_fixer(original.replace(*gather.RENPY_LINE_FIX))
        unpatched = self.load_fixer(original)

        def broken_tree():
            tree = ast.parse("x = 1\ny = 2\n")
            tree.body[1].end_lineno = 1  # what Ren'Py's rewritten nodes carry: end before start
            return tree

        tree = broken_tree()
        unpatched(tree, 1, 0)
        with self.assertRaises(ValueError):
            compile(tree, "<renpy>", "exec")
        tree = broken_tree()
        patched(tree, 1, 0)
        namespace = {}
        exec(compile(tree, "<renpy>", "exec"), namespace)
        self.assertEqual(namespace["y"], 2)


class SourceDefinitionsTest(unittest.TestCase):
    def test_names_are_unique_and_prefixed_and_labels_known(self):
        names = [s.name for s in gather.SOURCES + gather.CAPTURES]
        self.assertEqual(len(names), len(set(names)))
        for source in gather.SOURCES + gather.CAPTURES:
            self.assertTrue(source.name.startswith("debian-"), source.name)
            self.assertIn(source.label, gather.LABELS)

    def test_every_capture_session_waits_for_its_window_and_names_shots_once(self):
        kinds = {"window", "wait", "key", "click", "shot"}
        for capture in gather.CAPTURES:
            for command, steps, package in capture.sessions:
                with self.subTest(capture=capture.name, command=command[0]):
                    self.assertEqual(steps[0][0], "window")
                    self.assertTrue({step[0] for step in steps} <= kinds)
                    shots = [step[1] for step in steps if step[0] == "shot"]
                    self.assertTrue(shots)
                    self.assertEqual(len(shots), len(set(shots)))
                    self.assertTrue(package)


class KeepTest(unittest.TestCase):
    def test_keep_converts_dedupes_caps_and_records(self):
        with tempfile.TemporaryDirectory() as tmp:
            args = argparse.Namespace(out=Path(tmp), seed=0, dry_run=False, dhash_threshold=10, phash_threshold=10,
                                      min_detail=1.2)
            gatherer = gather.Gatherer(args, log=lambda message: None)
            shared = textured(50, (800, 600))
            gatherer.index.add(shared, "shared:photo/x/seen.jpg")  # already in the shared data
            candidates = [gather.Candidate("pkg", "1.0-1", f"usr/share/pkg/{i}.png", png_bytes(textured(i, (900, 600))), "MIT")
                          for i in range(5)]
            candidates.append(gather.Candidate("pkg", "1.0-1", "usr/share/pkg/copy.jpg",
                                               jpeg_bytes(textured(3, (450, 300)), quality=60), "MIT"))
            candidates.append(gather.Candidate("pkg", "1.0-1", "usr/share/pkg/seen.png", png_bytes(shared), "MIT"))
            candidates.append(gather.Candidate("pkg", "1.0-1", "usr/share/pkg/broken.png", b"\x89PNG broken", "MIT"))
            candidates.append(gather.Candidate("pkg", "1.0-1", "usr/share/pkg/sky.png", png_bytes(ramp(800, 600)), "MIT"))
            candidates.append(gather.Candidate("pkg", "1.0-1", "usr/share/pkg/strip.png", png_bytes(textured(9, (2000, 300))), "MIT"))
            kept = gatherer.keep("debian-test", "photo", "debian:pkg", candidates, cap=4)
            self.assertEqual(kept, 4)
            files = sorted((Path(tmp) / "photo" / "debian-test").glob("*.jpg"))
            self.assertEqual(len(files), 4)
            rows = gatherer.rows
            self.assertEqual(sorted(r["file"] for r in rows), [f.name for f in files])
            for dropped in ("seen.png", "broken.png", "sky.png", "strip.png"):
                self.assertNotIn(f"usr/share/pkg/{dropped}", [r["path_in_package"] for r in rows])
            kept_paths = {r["path_in_package"] for r in rows}
            self.assertFalse({"usr/share/pkg/3.png", "usr/share/pkg/copy.jpg"} <= kept_paths)
            for row, path in zip(sorted(rows, key=lambda r: r["file"]), files):
                self.assertEqual((row["original_width"], row["original_height"]), (900, 600) if row["path_in_package"].endswith(".png") else (450, 300))
                with Image.open(path) as saved:
                    self.assertEqual(max(saved.size), 640 if row["original_width"] == 900 else 450)


if __name__ == "__main__":
    unittest.main()
