"""Checks the ONNX export: tools/export_onnx.export_onnx() writes a valid opset-17 model with a dynamic
batch whose outputs, run by onnxruntime-node, equal PyTorch's on real images; and the committed
model/illust-only.onnx + model/contract.json follow docs/ARCHITECTURE.md and classify real images."""
import json
import tempfile
import unittest
from unittest import mock
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

    def test_ensemble_exports_as_one_network_with_the_members_mean(self):
        _, inputs = self.real_inputs(4)
        start = illust_model.trainable_start(7)
        members = []
        for seed in (1, 2):
            torch.manual_seed(seed)
            member = new_model_from_nsfwjs().eval()
            with torch.no_grad():  # members differ in their fine-tuned top and head, as after training
                for param in member.backbone.features[start:].parameters():
                    param.add_(0.02 * torch.randn_like(param))
                member.classifier.weight.mul_(20.0)
            members.append(member)
        ensemble = illust_model.IllustOnlyEnsemble(members, start).eval()
        with torch.no_grad():
            x = torch.from_numpy(inputs)
            outputs = [m(x) for m in members]
            probs, embedding = ensemble(x)
        torch.testing.assert_close(probs, (outputs[0][0] + outputs[1][0]) / 2)
        torch.testing.assert_close(embedding, (outputs[0][1] + outputs[1][1]) / 2)
        self.assertGreater(float((outputs[0][0] - outputs[1][0]).abs().max()), 0.05)  # the members really differ
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "ensemble.onnx"
            proto = export_onnx.export_onnx(ensemble, path)
            # the frozen bottom is in the graph once: 33 convs below the top 7 layers (blocks 11-16, Conv_1), 2 x 19 above
            self.assertEqual(sum(n.op_type == "Conv" for n in proto.graph.node), 33 + 2 * 19)
            out = export_onnx.run_onnxruntime_node(path, inputs)
            np.testing.assert_allclose(out["probs"], probs.numpy(), atol=1e-5)
            np.testing.assert_allclose(out["embedding"], embedding.numpy(), atol=1e-4, rtol=1e-4)
        with torch.no_grad():
            members[1].backbone.features[2].expand.conv.weight.add_(0.01)
        with self.assertRaisesRegex(ValueError, "share the frozen layers"):
            illust_model.IllustOnlyEnsemble(members, start)

    def test_committed_model_and_contract(self):
        contract = json.loads((MODEL_DIR / "contract.json").read_text())
        for key in ("name", "version", "labels", "model_file", "input", "outputs", "preprocess", "decision", "metrics"):
            self.assertIn(key, contract)
        self.assertEqual(contract["labels"], ["illustration", "screenshot", "photo"])
        self.assertEqual(contract["preprocess"], self.contract["preprocess"])
        self.assertEqual(contract["input"], self.contract["input"])
        self.assertEqual(contract["embedding_size"], self.contract["embedding_size"])
        self.assertEqual(contract["embedding_size"], 1280)
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


class EnsembleRunsTest(unittest.TestCase):
    """load_runs() on tiny hand-written run folders: figures from the averaged out-of-fold probabilities,
    and refusal of runs that are not members of one ensemble."""

    ROWS = [("a.png", "illustration/art", "0", "illustration", (0.9, 0.05, 0.05), (0.7, 0.2, 0.1)),
            ("b.png", "illustration/art", "0", "illustration", (0.3, 0.6, 0.1), (0.5, 0.4, 0.1)),
            ("c.png", "screenshot/game", "1", "screenshot", (0.6, 0.3, 0.1), (0.2, 0.7, 0.1)),
            ("d.png", "photo/food", "1", "photo", (0.1, 0.1, 0.8), (0.2, 0.1, 0.7))]

    def write_run(self, root, name, member, **changed):
        run = Path(root) / name
        run.mkdir()
        args = {"run_dir": str(run), "init_seed": 100 + member, "threads": 1, "seed": 0, "folds": 2, "lr": 0.002,
                "trainable_layers": 7, "dropout": 0.2, "source_cap": 40, "target_recall": 0.98, **changed}
        (run / "args.json").write_text(json.dumps(args))
        (run / "folds.json").write_text(json.dumps({"held_out": [["illustration/art"], ["photo/food", "screenshot/game"]]}))
        (run / "summary.json").write_text(json.dumps({"oof": {"threshold": 0.3, "accuracy": 0.75, "illustration_recall": 1.0,
                                                               "illustration_precision": 0.67},
                                                       "best_epochs": [3, 4], "final_epochs": 4, "command": f"train {name}"}))
        with (run / "oof.tsv").open("w") as handle:
            handle.write("file\tsource\tgroup\tfold\tlabel\tp_illustration\tp_screenshot\tp_photo\n")
            for file, source, fold, label, *probs in self.ROWS:
                handle.write("\t".join([file, source, source, fold, label] + [f"{p:.6f}" for p in probs[member]]) + "\n")
        torch.manual_seed(member)
        torch.save(new_model_from_nsfwjs().state_dict(), run / "final.pt")
        return run

    def test_members_are_averaged_and_strangers_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            # b was written by a newer train.py that records options a predates, at their defaults
            a, b = self.write_run(tmp, "a", 0), self.write_run(tmp, "b", 1, extra_data=[], teacher=[])
            args, summary, folds, network = export_onnx.load_runs([a, b])
            self.assertIsInstance(network, illust_model.IllustOnlyEnsemble)
            self.assertEqual(len(network.heads), 2)
            # mean p(illustration): a 0.8, b 0.4, c 0.4, d 0.15 -> keeping both illustrations needs t <= 0.4,
            # which also keeps c: 3 predicted illustrations, 2 of them right.
            self.assertAlmostEqual(summary["threshold_choice"]["threshold"], 0.4, places=5)
            self.assertEqual(summary["oof"]["confusion"], [[2, 0, 0], [1, 0, 0], [0, 0, 1]])
            self.assertAlmostEqual(summary["oof"]["illustration_precision"], 2 / 3)
            self.assertEqual([m["init_seed"] for m in summary["members"]], [100, 101])
            self.assertEqual(summary["oof_rows"][1]["p_illustration"], "0.400000")
            card = export_onnx.model_card({k: v for k, v in summary.items() if k != "oof_rows"}, args,
                                          {**illust_model.base_contract(), "version": "test"}, folds,
                                          {"probs": 0.0, "embedding": 0.0}, 1)
            self.assertIn("Ensemble of 2 such fine-tunings", card)
            self.assertIn(f"tools/training/export_onnx.py --run-dir {a} {b}", card)

            other_lr = self.write_run(tmp, "c", 1, lr=0.001)
            with self.assertRaisesRegex(SystemExit, "differs .* in lr"):
                export_onnx.load_runs([a, other_lr])
            other_folds = self.write_run(tmp, "d", 1)
            (other_folds / "folds.json").write_text(json.dumps({"held_out": [["photo/food"], ["illustration/art"]]}))
            with self.assertRaisesRegex(SystemExit, "other folds"):
                export_onnx.load_runs([a, other_folds])

    def test_figures_use_todays_label_corrections_and_the_card_says_which_came_after_training(self):
        # The run recorded d.png as a photo when it trained; a correction made since calls it an illustration.
        # The card, contract and oof-predictions.tsv must judge with today's label, as tools/evaluate.mjs does.
        with tempfile.TemporaryDirectory() as tmp:
            run = self.write_run(tmp, "a", 0)
            with mock.patch.object(export_onnx.data, "read_label_corrections", return_value={"d.png": "illustration"}):
                args, summary, folds, _ = export_onnx.load_runs([run])
            # p(illustration): a 0.9, b 0.3, c 0.6, d 0.1 (now an illustration): keeping 3 of 3 needs t <= 0.1
            self.assertEqual(summary["oof"]["confusion"], [[3, 0, 0], [1, 0, 0], [0, 0, 0]])
            self.assertEqual([r["label"] for r in summary["oof_rows"]], ["illustration", "illustration", "screenshot",
                                                                        "illustration"])
            self.assertEqual(summary["relabelled"], [{"file": "d.png", "source": "photo/food", "trained_as": "photo",
                                                      "label": "illustration"}])
            card = export_onnx.model_card({k: v for k, v in summary.items() if k != "oof_rows"}, args,
                                          {**illust_model.base_contract(), "version": "test"}, folds,
                                          {"probs": 0.0, "embedding": 0.0}, 1)
            self.assertIn("1 of them came after this model trained (photo/food/d.png: photo → illustration)", card)
            # Without corrections since training, the card says nothing of the kind.
            with mock.patch.object(export_onnx.data, "read_label_corrections", return_value={}):
                _, unchanged, _, _ = export_onnx.load_runs([run])
            self.assertEqual(unchanged["relabelled"], [])
            self.assertEqual(export_onnx.relabelled_text(unchanged), "")

    def test_retrain_command_holds_out_the_shipped_folds(self):
        # Dealt afresh, folds follow the class counts that label corrections change: the card's command must
        # hold out the sources model/folds.json lists, whatever --folds-from the run itself was given.
        train = "/usr/bin/python3 tools/training/train.py --run-dir runs/x --views 6"
        self.assertEqual(export_onnx.pinned_folds(train), train + " --folds-from model")
        self.assertEqual(export_onnx.pinned_folds(train + " --folds-from runs/r6-folds --init-seed 1"),
                         train + " --init-seed 1 --folds-from model")
        self.assertEqual(export_onnx.pinned_folds(train + " --folds-from=runs/r6-folds"), train + " --folds-from model")
        self.assertEqual(export_onnx.pinned_folds("bash tools/setup.sh"), "bash tools/setup.sh")
        with tempfile.TemporaryDirectory() as tmp:
            run = self.write_run(tmp, "a", 0)
            summary_file = run / "summary.json"
            summary_file.write_text(json.dumps({**json.loads(summary_file.read_text()),
                                                "command": train + " --folds-from runs/r6-folds"}))
            args, summary, folds, _ = export_onnx.load_runs([run])
            card = export_onnx.model_card({k: v for k, v in summary.items() if k != "oof_rows"}, args,
                                          {**illust_model.base_contract(), "version": "test"}, folds,
                                          {"probs": 0.0, "embedding": 0.0}, 1)
            self.assertIn("\n" + train + " --folds-from model\n", card)
            self.assertNotIn("r6-folds", card)


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


class VersionTest(unittest.TestCase):
    def test_unchanged_weights_keep_their_shipped_version(self):
        digest = "ce1485d2" + "0" * 56
        with tempfile.TemporaryDirectory() as tmp:
            contract = Path(tmp) / "contract.json"
            self.assertIsNone(export_onnx.same_weights_version(contract, digest))  # nothing shipped yet
            contract.write_text(json.dumps({"version": "2026.11.27-ce1485d2"}))
            self.assertEqual(export_onnx.same_weights_version(contract, digest), "2026.11.27-ce1485d2")
            self.assertIsNone(export_onnx.same_weights_version(contract, "3d6ee558" + "0" * 56))  # new weights
            for bad in ("not json", json.dumps({"name": "x"}), json.dumps({"version": 7}), json.dumps([1])):
                contract.write_text(bad)
                self.assertIsNone(export_onnx.same_weights_version(contract, digest))


if __name__ == "__main__":
    unittest.main()
