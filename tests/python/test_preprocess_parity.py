"""The C++ core (build/native/illust_core_cli, stb_image + PIL-exact BOX resize) must preprocess real
images like the Python evaluation path (PIL/libjpeg, tools/illust_data.eval_tensor) that the model was
trained and validated with. JPEG decoders differ by a level or two per pixel, so we bound the mean and
worst differences (measured: mean 0.01-0.1 levels, at most 3) and require the shipped model's
probabilities to stay nearly equal. WebP has no such excuse: PIL and the core run the same libwebp
(1.2.4), so WebPs that PIL writes from real images at test time (lossy, lossless, with alpha,
animated) must give the very same tensors, alpha composited exactly as open_rgb does."""
import json
import struct
import subprocess
import tempfile
import unittest
import zlib
from pathlib import Path

import numpy as np

from tests.python._support import REPO_ROOT, require_data, require_node_package, spread_samples

import export_onnx
import illust_data
import illust_model

CLI = REPO_ROOT / "build" / "native" / "illust_core_cli"
CONTRACT = REPO_ROOT / "model" / "contract.json"


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def low_bit_grey_png(levels, bits, key):
    """A 1-, 2- or 4-bit grey PNG (PIL writes none) of `levels` (uint8 [H, W], each below 2**bits) whose
    tRNS makes level `key` transparent."""
    height, width = levels.shape
    unpacked = np.unpackbits(levels[..., None], axis=2)[..., 8 - bits:].reshape(height, width * bits)
    rows = b"".join(b"\x00" + np.packbits(row).tobytes() for row in unpacked)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bits, 0, 0, 0, 0))
            + png_chunk(b"tRNS", struct.pack(">H", key)) + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))


class PreprocessParityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not CLI.is_file():
            raise unittest.SkipTest(f"{CLI.relative_to(REPO_ROOT)} not built (tools/test.sh builds it: cmake -S . -B build/native)")
        cls.data_dir = require_data()
        cls.contract = illust_data.load_contract(CONTRACT)
        cls.samples = spread_samples(illust_data.list_samples(cls.data_dir), 10)

    def core_tensors(self, contract_path, contract, paths=None):
        paths = paths or [s.path for s in self.samples]
        shape = (3, contract["input"]["height"], contract["input"]["width"])
        with tempfile.TemporaryDirectory() as tmp:
            result = subprocess.run([str(CLI), "--mode", "tensor", "--contract", str(contract_path), "--dump", tmp]
                                    + [str(p) for p in paths], capture_output=True, text=True, check=True)
            reports = [json.loads(line) for line in result.stdout.splitlines()]
            self.assertTrue(all(r["ok"] for r in reports), reports)
            return np.stack([np.fromfile(Path(tmp) / (Path(p).name + ".f32"), dtype="<f4").reshape(shape) for p in paths])

    def assert_close_to_python(self, core, contract):
        python = np.stack([illust_data.eval_tensor(s.path, contract) for s in self.samples])
        self.assertEqual(core.shape, python.shape)
        std = np.asarray(contract["preprocess"]["std"], np.float32)[:, None, None]
        diff = np.abs(core - python) * std / contract["preprocess"]["scale"]  # in 0..255 pixel levels
        per_image_mean = diff.reshape(len(self.samples), -1).mean(1)
        self.assertLess(per_image_mean.max(), 0.5, f"mean |diff| per image in levels: {per_image_mean.round(3)}")
        self.assertLess(np.percentile(diff, 99.9), 4.0)
        # Not trivially equal by accident: the images themselves differ a lot.
        self.assertGreater(np.abs(python[0] - python[-1]).mean(), 0.05)
        return python

    def test_every_resize_mode_and_size_matches_python(self):
        # Training can pick either resize and any input size (tools/training/train.py --resize, --input-size): the
        # core must agree with Python for all of them, not only for the shipped contract.
        for resize in ("squash", "letterbox"):
            for size in (160, 224):
                with self.subTest(resize=resize, size=size), tempfile.TemporaryDirectory() as tmp:
                    contract = illust_model.base_contract(size, resize)
                    path = Path(tmp) / "contract.json"
                    path.write_text(json.dumps(contract))
                    core = self.core_tensors(path, contract)
                    python = self.assert_close_to_python(core, contract)
                    if resize == "letterbox":  # wide and tall images really are padded with pad_color
                        padded = (python == 0).all(axis=1).reshape(len(self.samples), -1).mean(1)
                        self.assertGreater(padded.max(), 0.1)

    def test_mean_and_std_per_channel_match_python(self):
        # The shipped contract's mean 0 and std 1 would hide a core or a Python that ignored them, or mixed
        # up their channels: ImageNet's differ per channel.
        with tempfile.TemporaryDirectory() as tmp:
            contract = illust_model.base_contract(224, "squash")
            contract["preprocess"].update(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
            path = Path(tmp) / "contract.json"
            path.write_text(json.dumps(contract))
            self.assert_close_to_python(self.core_tensors(path, contract), contract)

    def write_webps(self, folder):
        """Real images as WebP, the ways PIL writes them: lossy, lossless, each with a real alpha channel
        (the image's own luminance, so transparency follows its content), and a two-frame animation."""
        from PIL import Image
        paths = []
        for i, sample in enumerate(self.samples[:6]):
            rgb = illust_data.open_rgb(sample.path)
            rgba = rgb.copy()
            rgba.putalpha(rgb.convert("L"))
            for name, image, options in (("lossy", rgb, {"quality": 80}), ("lossless", rgb, {"lossless": True}),
                                         ("lossy_alpha", rgba, {"quality": 80}), ("lossless_alpha", rgba, {"lossless": True}),
                                         ("animated", rgb, {"save_all": True, "append_images": [rgb.rotate(180)], "duration": 100})):
                path = Path(folder) / f"{i}_{name}.webp"
                image.save(path, **options)
                paths.append(path)
        return paths

    def test_webp_tensors_equal_python_exactly(self):
        from PIL import Image
        with tempfile.TemporaryDirectory() as tmp:
            paths = self.write_webps(tmp)
            with Image.open(paths[2]) as image:
                self.assertEqual(image.mode, "RGBA")  # the alpha variants really carry alpha
            # The shipped contract, and one that composites over a colour, so the background is checked too.
            coloured = dict(self.contract, preprocess=dict(self.contract["preprocess"], alpha_background=[10, 200, 30]))
            for contract in (self.contract, coloured):
                with self.subTest(alpha_background=contract["preprocess"]["alpha_background"]):
                    contract_path = Path(tmp) / "contract.json"
                    contract_path.write_text(json.dumps(contract))
                    core = self.core_tensors(contract_path, contract, paths)
                    python = np.stack([illust_data.eval_tensor(p, contract) for p in paths])
                    worst = np.abs(core - python).reshape(len(paths), -1).max(1)
                    self.assertEqual(worst.max(), 0.0, dict(zip((p.name for p in paths), worst.round(6))))
            # Alpha matters: the same pixels composited over white and over the colour differ.
            self.assertGreater(np.abs(illust_data.eval_tensor(paths[2], self.contract)
                                      - illust_data.eval_tensor(paths[2], coloured)).mean(), 0.01)

    def test_png_variants_tensors_equal_python_exactly(self):
        # PNG is lossless and the resize is PIL's BOX in both, so every variant must match to the bit:
        # 16-bit grey (PIL alone would clip it to white), an eXIf orientation (wherever the chunk sits),
        # a palette with a transparent entry, and tRNS colour keys (PIL alone would ignore them).
        from PIL import Image
        tiff = b"II" + np.array([42], "<u2").tobytes() + np.array([8], "<u4").tobytes()
        exif = tiff + np.array([1, 0x0112, 3], "<u2").tobytes() + np.array([1], "<u4").tobytes() + np.array([6, 0], "<u2").tobytes() + bytes(4)
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for i, sample in enumerate(self.samples[:4]):
                rgb = illust_data.open_rgb(sample.path)
                grey = np.asarray(rgb.convert("L")).astype(np.uint16)
                grey16 = grey * 257 + (np.arange(grey.size, dtype=np.uint16).reshape(grey.shape) % 251)
                paths.append(Path(tmp) / f"{i}_grey16.png")
                Image.fromarray(grey16, "I;16").save(paths[-1])
                paths.append(Path(tmp) / f"{i}_exif6.png")
                rgb.save(paths[-1], exif=exif)
                # An orientation only in XMP (Adobe tools) or in a "Raw profile type exif" text chunk
                # (ImageMagick, exiftool): neither the core nor Chromium reads those, so neither may training.
                from PIL import PngImagePlugin
                for name, key, text in (("xmp6", "XML:com.adobe.xmp", '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'),
                                        ("rawprofile6", "Raw profile type exif", f"\nexif\n{len(exif) + 6:8d}\n{(b'Exif' + bytes(2) + exif).hex()}\n")):
                    info = PngImagePlugin.PngInfo()
                    (info.add_itxt if name == "xmp6" else info.add_text)(key, text)
                    paths.append(Path(tmp) / f"{i}_{name}.png")
                    rgb.save(paths[-1], pnginfo=info)
                    with Image.open(paths[-1]) as written:
                        self.assertEqual(written.getexif().get(0x0112), 6, f"PIL itself reads the {name} orientation")
                palette = rgb.quantize(colors=64)
                paths.append(Path(tmp) / f"{i}_palette_trns.png")
                palette.save(paths[-1], transparency=5)
                # tRNS colour keys on RGB, grey and 16-bit grey: the image's most common colour is transparent.
                colours, counts = np.unique(np.asarray(rgb).reshape(-1, 3), axis=0, return_counts=True)
                paths.append(Path(tmp) / f"{i}_rgb_trns.png")
                rgb.save(paths[-1], transparency=tuple(int(v) for v in colours[counts.argmax()]))
                levels, counts = np.unique(grey, return_counts=True)
                paths.append(Path(tmp) / f"{i}_grey_trns.png")
                Image.fromarray(grey.astype(np.uint8), "L").save(paths[-1], transparency=int(levels[counts.argmax()]))
                paths.append(Path(tmp) / f"{i}_grey16_trns.png")  # PIL does not write this one: the chunk by hand
                Image.fromarray(grey16, "I;16").save(paths[-1])
                png = paths[-1].read_bytes()
                key = np.array([grey16.flat[0]], ">u2").tobytes()
                trns = struct.pack(">I", 2) + b"tRNS" + key + struct.pack(">I", zlib.crc32(b"tRNS" + key))
                paths[-1].write_bytes(png[:33] + trns + png[33:])  # after the signature and IHDR
                # 1-, 2- and 4-bit grey with a tRNS key (what PNG optimisers make of line art): the key is
                # a level of the file's depth, not of PIL's 0..255 pixels.
                for bits in (1, 2, 4):
                    levels = (grey >> (8 - bits)).astype(np.uint8)
                    paths.append(Path(tmp) / f"{i}_grey{bits}_trns.png")
                    key = int(np.bincount(levels.ravel(), minlength=1 << bits)[:-1].argmax())  # not white: it shows
                    paths[-1].write_bytes(low_bit_grey_png(levels, bits, key))
            with Image.open(paths[0]) as image:
                self.assertIn(image.mode, ("I", "I;16"))  # a real 16-bit file
            core = self.core_tensors(CONTRACT, self.contract, paths)
            python = np.stack([illust_data.eval_tensor(p, self.contract) for p in paths])
            worst = np.abs(core - python).reshape(len(paths), -1).max(1)
            self.assertEqual(worst.max(), 0.0, dict(zip((p.name for p in paths), worst.round(6))))
            # The grey image is not white, and the orientation turned the image (a wide one comes out tall);
            # the XMP and text-chunk ones did not.
            self.assertLess(python[0].mean(), 0.9)
            upright = illust_data.eval_tensor(self.samples[0].path, self.contract)
            self.assertFalse(np.array_equal(python[1], upright))
            self.assertTrue(np.array_equal(python[2], upright) and np.array_equal(python[3], upright))

    def test_shipped_model_agrees_on_core_and_python_tensors(self):
        core = self.core_tensors(CONTRACT, self.contract)
        python = self.assert_close_to_python(core, self.contract)

        require_node_package("onnxruntime-node")
        model = REPO_ROOT / "model" / self.contract["model_file"]
        p_core = export_onnx.run_onnxruntime_node(model, core)["probs"]
        p_python = export_onnx.run_onnxruntime_node(model, python)["probs"]
        self.assertLess(np.abs(p_core - p_python).max(), 0.01, f"{p_core.round(3)} vs {p_python.round(3)}")
        np.testing.assert_array_equal(p_core.argmax(1), p_python.argmax(1))


if __name__ == "__main__":
    unittest.main()
