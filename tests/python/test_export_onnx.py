"""Checks the ONNX export: tools/export_onnx.export_onnx() writes a valid opset-17 model with a dynamic
batch whose outputs, run by onnxruntime-node, equal PyTorch's on real images; and the committed
model/illust-only.onnx + model/contract.json follow docs/ARCHITECTURE.md and classify real images."""
import json
import tempfile
import unittest
from pathlib import Path

import numpy as np
import onnx
import torch

from tests.python._support import REPO_ROOT, require_data, require_node_package, spread_samples

import export_onnx
import illust_data
import illust_model
from illust_model import new_model_from_nsfwjs

MODEL_DIR = REPO_ROOT / "model"


class ExportOnnxTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_node_package("onnxruntime-node")
        torch.set_num_threads(2)
        cls.contract = illust_model.base_contract()

    def real_inputs(self, count):
        samples = spread_samples(illust_data.list_samples(require_data()), count)
        return samples, np.stack([illust_data.eval_tensor(s.path, self.contract) for s in samples])

    def test_export_matches_pytorch_in_onnxruntime_node(self):
        _, inputs = self.real_inputs(6)
        torch.manual_seed(0)
        model = new_model_from_nsfwjs().eval()  # real backbone weights: embeddings are meaningful
        with torch.no_grad():  # a head with clear preferences, so probability errors would show
            model.classifier.weight.mul_(20.0)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            proto = export_onnx.export_onnx(model, path)
            self.assertEqual(max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 17)
            self.assertEqual([i.name for i in proto.graph.input], ["input"])
            # Keras's bottom-right padding travels inside the stride-2 convs, not as separate Pad copies.
            self.assertNotIn("Pad", {n.op_type for n in proto.graph.node})
            stride2_pads = [onnx.helper.get_attribute_value(a) for n in proto.graph.node if n.op_type == "Conv"
                            for a in n.attribute if a.name == "pads" and onnx.helper.get_attribute_value(a) == [0, 0, 1, 1]]
            self.assertEqual(len(stride2_pads), 5)  # the stem and Keras blocks 1, 3, 6 and 13
            with torch.no_grad():
                probs, embedding = model(torch.from_numpy(inputs))
            self.assertGreater(float(probs.max() - probs.min()), 0.3)
            for batch in (inputs[:1], inputs):  # dynamic batch: 1 and N
                out = export_onnx.run_onnxruntime_node(path, batch)
                self.assertEqual(out["probs"].shape, (len(batch), 3))
                self.assertEqual(out["embedding"].shape, (len(batch), 1280))
                np.testing.assert_allclose(out["probs"], probs[:len(batch)].numpy(), atol=1e-5)
                np.testing.assert_allclose(out["embedding"], embedding[:len(batch)].numpy(), atol=1e-4, rtol=1e-4)

    def test_committed_model_and_contract(self):
        contract = json.loads((MODEL_DIR / "contract.json").read_text())
        for key in ("name", "version", "labels", "model_file", "input", "outputs", "preprocess", "decision", "metrics"):
            self.assertIn(key, contract)
        self.assertEqual(contract["labels"], ["illustration", "screenshot", "photo"])
        self.assertEqual(contract["preprocess"], self.contract["preprocess"])
        self.assertEqual(contract["input"], self.contract["input"])
        decision = contract["decision"]
        self.assertLessEqual(decision["hide_below_min"], decision["hide_below"])
        self.assertLessEqual(decision["hide_below"], decision["hide_below_max"])
        self.assertGreaterEqual(contract["metrics"]["illustration_recall"], 0.9)
        proto = onnx.load(str(MODEL_DIR / contract["model_file"]))
        onnx.checker.check_model(proto)
        self.assertEqual(proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param, "N")

        samples, inputs = self.real_inputs(9)
        out = export_onnx.run_onnxruntime_node(MODEL_DIR / contract["model_file"], inputs)
        np.testing.assert_allclose(out["probs"].sum(1), 1.0, atol=1e-5)
        from illust_metrics import decide
        predicted = decide(out["probs"], decision["hide_below"])
        correct = sum(int(p == s.label) for p, s in zip(predicted, samples))
        self.assertGreaterEqual(correct, len(samples) - 1, f"predicted {predicted.tolist()}")


class ModelCardTest(unittest.TestCase):
    def test_extra_data_section_reports_the_extra_sources_out_of_fold(self):
        from illust_metrics import summarise
        labels = np.array([0, 0, 1, 2])
        probs = np.array([[0.9, 0.05, 0.05], [0.1, 0.2, 0.7], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]], np.float32)
        sources = ["illustration/debian-a", "illustration/debian-a", "screenshot/debian-b", "photo/debian-c"]
        summary = {"oof_extra": summarise(labels, probs, sources, 0.3), "extra_data": ["/work/extra-data"]}
        text = "\n".join(export_onnx.extra_data_section(summary))
        self.assertIn("4 images from 3 more sources (/work/extra-data", text)
        self.assertIn("| illustration | 1 | 0 | 1 |", text)
        self.assertIn("| illustration/debian-a | 2 | 50.0 % | 1 / 0 / 1 |", text)
        self.assertIn("Accuracy 75.0 %, illustration recall 50.0 %", text)
        self.assertEqual(export_onnx.extra_data_section({"oof": {}}), [])


if __name__ == "__main__":
    unittest.main()
