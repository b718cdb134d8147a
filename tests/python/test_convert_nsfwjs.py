"""Proves tools/training/convert_nsfwjs.py rebuilds nsfwjs's MobileNetV2 exactly: our PyTorch model and the real
nsfwjs (TF.js in Node, tools/nsfwjs-reference.mjs) must give the same five-class probabilities for the
same 224x224 pixel arrays of real images."""
import json
import subprocess
import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch

from tests.python._support import REPO_ROOT, require_data, require_node_package, spread_samples

import convert_nsfwjs
import illust_data


class ConvertNsfwjsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_node_package("nsfwjs")
        torch.set_num_threads(2)
        cls.model = convert_nsfwjs.build_nsfwjs_model()

    def test_weights_fill_the_manifest_exactly(self):
        model_json, shard = convert_nsfwjs.read_nsfwjs_files()
        weights = convert_nsfwjs.dequantise_weights(model_json, shard)
        self.assertEqual(len(weights), 266)
        self.assertEqual(weights["Conv1/kernel"].shape, (3, 3, 3, 32))
        with self.assertRaises(ValueError):  # a truncated or padded shard is refused, not silently misread
            convert_nsfwjs.dequantise_weights(model_json, shard[:-10])
        with self.assertRaises(ValueError):
            convert_nsfwjs.dequantise_weights(model_json, shard + b"\0")

    def test_matches_real_nsfwjs_on_real_images(self):
        data_dir = require_data()
        contract = illust_data.load_contract()
        samples = spread_samples(illust_data.list_samples(data_dir), 5)
        pixels = np.stack([illust_data.eval_pixels(s.path, contract) for s in samples])
        with tempfile.TemporaryDirectory() as tmp:
            raw, out = Path(tmp) / "pixels.raw", Path(tmp) / "ref.json"
            raw.write_bytes(pixels.tobytes())
            subprocess.run(["node", str(REPO_ROOT / "tools" / "nsfwjs-reference.mjs"), "--pixels", str(raw),
                            "--width", "224", "--height", "224", "--out", str(out)],
                           check=True, capture_output=True, cwd=REPO_ROOT)
            reference = np.asarray(json.loads(out.read_text())["probs"], dtype=np.float32)
        x = (pixels.astype(np.float32) * convert_nsfwjs.NSFWJS_INPUT_SCALE).transpose(0, 3, 1, 2)
        with torch.no_grad():
            ours = self.model(torch.from_numpy(np.ascontiguousarray(x))).numpy()
        self.assertEqual(reference.shape, (len(samples), 5))
        # Different images give clearly different outputs, so agreement below is not a coincidence.
        self.assertGreater(np.abs(reference[0] - reference[1:]).max(), 0.01)
        np.testing.assert_allclose(ours, reference, atol=1e-4)
        np.testing.assert_array_equal(ours.argmax(1), reference.argmax(1))


if __name__ == "__main__":
    unittest.main()
