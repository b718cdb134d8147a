"""tools/training/quantize_onnx.py turns the shipped float model into a valid int8 QDQ model that onnxruntime
fuses into integer kernels and that still computes nearly the same probabilities on real images.
(Its speed is the benchmark's business: npm run bench, levers.)"""
import collections
import tempfile
import unittest
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from tests.python._support import REPO_ROOT, require_data, require_node_package, spread_samples

import export_onnx
import illust_data
import quantize_onnx

MODEL = REPO_ROOT / "model" / "illust-only.onnx"


class QuantizeTest(unittest.TestCase):
    def test_int8_model_is_valid_and_close_to_float(self):
        require_node_package("onnxruntime-node")
        samples = illust_data.list_samples(require_data())
        contract = illust_data.load_contract()
        calibration = spread_samples(samples, 24)
        used = {s.path for s in calibration}
        checks = spread_samples([s for s in samples if s.path not in used][7:], 12)  # other images
        self.assertFalse({s.path for s in calibration} & {s.path for s in checks})
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "int8.onnx"
            report = quantize_onnx.quantize(MODEL, out, np.stack([illust_data.eval_tensor(s.path, contract) for s in calibration]))
            model = onnx.load(str(out))
            ops = collections.Counter(n.op_type for n in model.graph.node)
            self.assertEqual(ops["Pad"], 0)  # Keras' asymmetric pads live in the Convs (export_onnx)
            self.assertEqual(ops["Conv"], 52)
            self.assertGreaterEqual(ops["QuantizeLinear"], 52)
            int8 = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.INT8 and len(i.dims) == 4]
            self.assertEqual(len(int8), 52)
            self.assertLess(out.stat().st_size, MODEL.stat().st_size * 0.4)
            x = np.stack([illust_data.eval_tensor(s.path, contract) for s in checks])
            p_float = export_onnx.run_onnxruntime_node(MODEL, x)["probs"]
            p_int8 = export_onnx.run_onnxruntime_node(out, x)["probs"]
        self.assertEqual(p_int8.shape, p_float.shape)
        self.assertLess(np.abs(p_int8 - p_float).mean(), 0.05, f"{p_int8.round(3)} vs {p_float.round(3)}")
        self.assertGreaterEqual((p_int8.argmax(1) == p_float.argmax(1)).mean(), 0.8)

    def test_uint8_grid_holds_zero_and_covers_the_range(self):
        scale, zero = quantize_onnx.uint8_params(0.0, 6.0)  # a ReLU6 output: zero point 0, so ORT can drop the Clip
        self.assertEqual(int(zero), 0)
        self.assertAlmostEqual(float(scale) * 255, 6.0, places=5)
        scale, zero = quantize_onnx.uint8_params(-2.0, 6.0)
        self.assertAlmostEqual(-int(zero) * float(scale), -2.0, delta=float(scale))
        self.assertEqual(quantize_onnx.uint8_params(0.0, 0.0)[0], 1.0)  # a constant-zero tensor stays valid


if __name__ == "__main__":
    unittest.main()
