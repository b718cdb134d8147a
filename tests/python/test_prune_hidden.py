"""Narrowing the fine-tuned blocks (train.py --prune-keep): the channels kept are the ones that carry the
block's output, a narrowed checkpoint loads back into the same network, and the outputs keep their shape."""
import tempfile
import unittest
from pathlib import Path

import torch

from tests.python import _support  # noqa: F401  (puts tools/training/ on sys.path)

from convert_nsfwjs import InvertedResidual
from illust_model import IllustOnlyNet, load_checkpoint, prune_hidden_channels, trainable_start

START = trainable_start(7)  # blocks 11-16 + Conv_1, as the shipped configuration trains


def random_net(seed: int) -> IllustOnlyNet:
    torch.manual_seed(seed)
    net = IllustOnlyNet().eval()
    for module in net.modules():  # non-trivial BatchNorm statistics, so the slicing of each is exercised
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
    return net


def block_input(net: IllustOnlyNet, seed: int, n: int = 6) -> torch.Tensor:
    torch.manual_seed(seed)
    with torch.no_grad():
        return net.backbone.forward_prefix(torch.rand(n, 3, 224, 224), START)


class PruneHiddenChannelsTest(unittest.TestCase):
    def test_channels_that_carry_nothing_are_the_ones_dropped(self):
        net = random_net(1)
        features = block_input(net, 2)
        # Half of each fine-tuned block's hidden channels feed nothing (zero projection weights): a
        # correct importance score drops exactly those, and the network's outputs do not change.
        for i in range(START, len(net.backbone.features)):
            block = net.backbone.features[i]
            if isinstance(block, InvertedResidual):
                hidden = block.depthwise.conv.out_channels
                dead = torch.randperm(hidden, generator=torch.Generator().manual_seed(i))[: hidden // 2]
                block.project.conv.weight.data[:, dead] = 0
        with torch.no_grad():
            before = net.classifier(net.backbone.forward_suffix(features, START))
        widths = prune_hidden_channels(net, START, 0.5, features)
        self.assertEqual(widths, [288, 288, 288, 480, 480, 480])
        with torch.no_grad():
            after = net.classifier(net.backbone.forward_suffix(features, START))
        # (Channels that are never active score zero too and may be dropped instead: just as harmless.)
        torch.testing.assert_close(after, before, atol=1e-4, rtol=1e-4)

    def test_narrowed_checkpoint_loads_and_runs_the_whole_network(self):
        net = random_net(3)
        prune_hidden_channels(net, START, 0.25, block_input(net, 4))
        x = torch.rand(2, 3, 224, 224)
        with torch.no_grad():
            probs, embedding = net(x)
        self.assertEqual((tuple(probs.shape), tuple(embedding.shape)), ((2, 3), (2, 1280)))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "final.pt"
            torch.save(net.state_dict(), path)
            loaded = load_checkpoint(path)
        with torch.no_grad():
            probs2, embedding2 = loaded(x)
        torch.testing.assert_close(probs2, probs)
        torch.testing.assert_close(embedding2, embedding)
        self.assertEqual(loaded.backbone.features[START].depthwise.conv.out_channels, 144)

    def test_frozen_layers_and_full_width_are_left_alone(self):
        net = random_net(5)
        reference = {k: v.clone() for k, v in net.state_dict().items()}
        self.assertEqual(prune_hidden_channels(net, START, 1.0, block_input(net, 6)), [])
        for key, value in net.state_dict().items():
            self.assertTrue(torch.equal(value, reference[key]), key)
        prune_hidden_channels(net, START, 0.5, block_input(net, 6))
        for key, value in net.state_dict().items():
            layer = int(key.split(".")[2]) if key.startswith("backbone.features.") else None
            if layer is not None and layer < START:
                self.assertTrue(torch.equal(value, reference[key]), f"frozen {key} changed")
        with self.assertRaises(ValueError):
            prune_hidden_channels(net, START, 0.0, block_input(net, 6))


class PruneKeepArgumentTest(unittest.TestCase):
    def test_train_refuses_a_fraction_it_cannot_apply(self):
        import contextlib
        import io

        import train
        self.assertEqual(train.parse_args(["--prune-keep", "0.5", "--trainable-layers", "7"]).prune_keep, 0.5)
        for argv in (["--prune-keep", "0"], ["--prune-keep", "1.5"], ["--prune-keep", "0.5", "--trainable-layers", "1"]):
            with self.assertRaises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
                train.parse_args(argv)


if __name__ == "__main__":
    unittest.main()
