#!/usr/bin/python3
"""Rebuild nsfwjs's MobileNetV2 (a Keras model shipped as TF.js layers JSON) exactly in PyTorch.

Why: our classifier fine-tunes nsfwjs's backbone, so we need it as a PyTorch module whose outputs match
nsfwjs's own. nsfwjs 4.4.0 ships `dist/models/mobilenet_v2/model.min.js` (browserify wrapper whose
default export is the TF.js model JSON) and `group1-shard1of1.min.js` (default export: the weight
shard, base64 of uint8-quantised weights; value = min + scale * q). We let Node import both wrappers
(their exports are JS object literals, not JSON) and do the rest here.

Keras details reproduced: ZeroPadding2D((0,1),(0,1)) before every stride-2 conv, "same" padding (1 px)
for stride-1 3x3 depthwise convs, BatchNormalization eps 1e-3, ReLU6, no conv biases, global 7x7 average
pool, the nsfwjs head Dense(256,relu) > Dense(128,relu) > Dense(5,softmax). nsfwjs feeds pixels / 255
(no mean/std), see NSFWJS_INPUT_SCALE.

CLI: `tools/training/convert_nsfwjs.py [--out runs/nsfwjs_mobilenet_v2.pt]` converts and prints a summary.
"""
from __future__ import annotations

import argparse
import base64
import json
import subprocess
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parents[2]
NSFWJS_MODEL_DIR = REPO_ROOT / "node_modules" / "nsfwjs" / "dist" / "models" / "mobilenet_v2"
NSFWJS_CLASSES = ["Drawing", "Hentai", "Neutral", "Porn", "Sexy"]
# nsfwjs core.js: `img.toFloat().div(tf.scalar(255))`; the Keras model has no further normalisation.
NSFWJS_INPUT_SCALE = 1.0 / 255.0
NSFWJS_INPUT_MEAN = (0.0, 0.0, 0.0)
NSFWJS_INPUT_STD = (1.0, 1.0, 1.0)
KERAS_BN_EPS = 1e-3
EMBEDDING_SIZE = 1280

# (expansion, output channels, stride) for expanded_conv (block 0) and block_1 .. block_16.
MOBILENET_V2_BLOCKS = [(1, 16, 1)] + [(6, 24, 2), (6, 24, 1)] + [(6, 32, 2)] + [(6, 32, 1)] * 2 \
    + [(6, 64, 2)] + [(6, 64, 1)] * 3 + [(6, 96, 1)] * 3 + [(6, 160, 2)] + [(6, 160, 1)] * 2 + [(6, 320, 1)]


class _PadBottomRightConv(torch.autograd.Function):
    """Export-only stand-in for F.pad(x, (0, 1, 0, 1)) + a stride-2 conv: one ONNX Conv with asymmetric pads.

    Why: torch exports F.pad as a Pad node fed by a Cast/Reshape/Slice chain that ONNX Runtime does not
    fold into the conv; in ORT-web's wasm build those five Pad copies cost ~4 % of inference (A/B of the
    two exports, tools/bench/notes.md)."""

    @staticmethod
    def forward(ctx, x, weight, stride: int, groups: int):
        return F.conv2d(F.pad(x, (0, 1, 0, 1)), weight, None, stride, 0, 1, groups)

    @staticmethod
    def symbolic(g, x, weight, stride: int, groups: int):
        kernel = weight.type().sizes()[-2:]
        with warnings.catch_warnings():  # torch 1.13 flags Graph.op as deprecated; it is the documented way here
            warnings.simplefilter("ignore", FutureWarning)
            return g.op("Conv", x, weight, pads_i=[0, 0, 1, 1], strides_i=[stride, stride], group_i=groups,
                        dilations_i=[1, 1], kernel_shape_i=kernel)


class KerasConvBN(nn.Module):
    """Conv (no bias) + BatchNorm(eps 1e-3) [+ ReLU6], with Keras's asymmetric padding for stride 2."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, depthwise: bool, relu6: bool):
        super().__init__()
        self.stride = stride
        # Keras "same" at stride 1 pads k//2 on every side; stride 2 uses ZeroPadding2D((0,1),(0,1)) + "valid".
        padding = kernel // 2 if stride == 1 else 0
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, padding, groups=in_ch if depthwise else 1, bias=False)
        self.bn = nn.BatchNorm2d(out_ch, eps=KERAS_BN_EPS)
        self.relu6 = relu6

    def forward(self, x):
        if self.stride == 2 and torch.onnx.is_in_onnx_export():
            x = _PadBottomRightConv.apply(x, self.conv.weight, self.stride, self.conv.groups)
        else:
            if self.stride == 2:
                x = F.pad(x, (0, 1, 0, 1))  # (left, right, top, bottom): pad right and bottom by one
            x = self.conv(x)
        x = self.bn(x)
        return F.relu6(x) if self.relu6 else x


class InvertedResidual(nn.Module):
    def __init__(self, in_ch: int, expansion: int, out_ch: int, stride: int):
        super().__init__()
        hidden = in_ch * expansion
        self.expand = KerasConvBN(in_ch, hidden, 1, 1, False, True) if expansion != 1 else None
        self.depthwise = KerasConvBN(hidden, hidden, 3, stride, True, True)
        self.project = KerasConvBN(hidden, out_ch, 1, 1, False, False)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x):
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y


class MobileNetV2Backbone(nn.Module):
    """Keras MobileNetV2 (alpha 1.0) up to the pooled 1280-d embedding. Input: NCHW, pixels * 1/255.

    `features` is stem, blocks[0..16] and the final 1x1 conv as one nn.Sequential so that callers can
    freeze and cache a prefix (`forward_prefix`) and train the rest (`forward_suffix`).
    """

    def __init__(self):
        super().__init__()
        layers = [KerasConvBN(3, 32, 3, 2, False, True)]
        in_ch = 32
        for expansion, out_ch, stride in MOBILENET_V2_BLOCKS:
            layers.append(InvertedResidual(in_ch, expansion, out_ch, stride))
            in_ch = out_ch
        layers.append(KerasConvBN(in_ch, EMBEDDING_SIZE, 1, 1, False, True))
        self.features = nn.Sequential(*layers)

    # features[0] is the stem, features[1 + b] is block b (0..16), features[18] is Conv_1.
    @staticmethod
    def layer_index_after_block(block: int) -> int:
        return block + 2

    def forward_prefix(self, x, end: int):
        return self.features[:end](x)

    def forward_suffix(self, x, start: int):
        return self.features[start:](x).mean(dim=(2, 3))

    def forward(self, x):
        return self.features(x).mean(dim=(2, 3))


class NsfwjsHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense_1 = nn.Linear(EMBEDDING_SIZE, 256)
        self.dense_2 = nn.Linear(256, 128)
        self.dense_3 = nn.Linear(128, len(NSFWJS_CLASSES))

    def forward(self, embedding):
        x = F.relu(self.dense_1(embedding))
        x = F.relu(self.dense_2(x))
        return torch.softmax(self.dense_3(x), dim=1)


class NsfwjsMobileNetV2(nn.Module):
    """The whole nsfwjs model: pixels/255 NCHW -> five class probabilities (NSFWJS_CLASSES order)."""

    def __init__(self):
        super().__init__()
        self.backbone = MobileNetV2Backbone()
        self.head = NsfwjsHead()

    def forward(self, x):
        return self.head(self.backbone(x))


def read_nsfwjs_files(model_dir: Path = NSFWJS_MODEL_DIR) -> tuple[dict, bytes]:
    """Import nsfwjs's two browserify wrappers in Node; returns (TF.js model JSON, weight shard bytes)."""
    model_js, shard_js = model_dir / "model.min.js", model_dir / "group1-shard1of1.min.js"
    for path in (model_js, shard_js):
        if not path.is_file():
            raise FileNotFoundError(f"nsfwjs model file missing: {path} (run `npm ci`)")
    script = (
        "const [m, s] = await Promise.all([import(process.argv[1]), import(process.argv[2])]);"
        "process.stdout.write(JSON.stringify({model: m.default, shard: s.default}));"
    )
    result = subprocess.run(["node", "--input-type=module", "-e", script, "--", model_js.as_uri(), shard_js.as_uri()],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"node could not import the nsfwjs model wrappers: {result.stderr.strip()[:500]}")
    data = json.loads(result.stdout)
    return data["model"], base64.b64decode(data["shard"])


def dequantise_weights(model_json: dict, shard: bytes) -> dict[str, np.ndarray]:
    """Weights by Keras name ("Conv1/kernel", ...), following TF.js's manifest order and uint8 quantisation."""
    weights, offset = {}, 0
    for group in model_json["weightsManifest"]:
        for spec in group["weights"]:
            count = int(np.prod(spec["shape"])) if spec["shape"] else 1
            quant = spec.get("quantization")
            if quant is None:
                values = np.frombuffer(shard, dtype=np.float32, count=count, offset=offset).astype(np.float32)
                offset += 4 * count
            elif quant["dtype"] == "uint8":
                q = np.frombuffer(shard, dtype=np.uint8, count=count, offset=offset)
                values = (q.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"]))
                offset += count
            else:
                raise ValueError(f"unsupported quantisation {quant['dtype']} for {spec['name']}")
            weights[spec["name"]] = values.reshape(spec["shape"])
    if offset != len(shard):
        raise ValueError(f"weight shard has {len(shard)} bytes but the manifest describes {offset}")
    return weights


def _keras_layer_names() -> list[tuple[str, str, str]]:
    """(conv name, bn name, kind) for each KerasConvBN of MobileNetV2Backbone.features, in module order."""
    names = [("Conv1", "bn_Conv1", "conv")]
    names += [("expanded_conv_depthwise", "expanded_conv_depthwise_BN", "dw"),
              ("expanded_conv_project", "expanded_conv_project_BN", "conv")]
    for b in range(1, 17):
        names += [(f"block_{b}_expand", f"block_{b}_expand_BN", "conv"),
                  (f"block_{b}_depthwise", f"block_{b}_depthwise_BN", "dw"),
                  (f"block_{b}_project", f"block_{b}_project_BN", "conv")]
    names.append(("Conv_1", "Conv_1_bn", "conv"))
    return names


def _conv_bn_modules(backbone: MobileNetV2Backbone) -> list[KerasConvBN]:
    modules = []
    for layer in backbone.features:
        if isinstance(layer, KerasConvBN):
            modules.append(layer)
        else:
            modules += [m for m in (layer.expand, layer.depthwise, layer.project) if m is not None]
    return modules


def build_nsfwjs_model(model_dir: Path = NSFWJS_MODEL_DIR) -> NsfwjsMobileNetV2:
    """Returns nsfwjs's MobileNetV2 in PyTorch with its weights, in eval mode. Raises on any mismatch."""
    model_json, shard = read_nsfwjs_files(model_dir)
    weights = dequantise_weights(model_json, shard)
    used = set()

    def take(name: str, shape_check) -> torch.Tensor:
        if name not in weights:
            raise KeyError(f"nsfwjs weights lack {name}")
        used.add(name)
        tensor = torch.from_numpy(np.ascontiguousarray(weights[name]))
        if tuple(tensor.shape) != tuple(shape_check):
            raise ValueError(f"{name}: shape {tuple(tensor.shape)} != expected {tuple(shape_check)}")
        return tensor

    model = NsfwjsMobileNetV2()
    with torch.no_grad():
        for module, (conv, bn, kind) in zip(_conv_bn_modules(model.backbone), _keras_layer_names(), strict=True):
            w = module.conv.weight
            if kind == "dw":  # Keras [kh, kw, in, 1] -> torch [in, 1, kh, kw]
                kernel = take(f"{conv}/depthwise_kernel", (w.shape[2], w.shape[3], w.shape[0], 1)).permute(2, 3, 0, 1)
            else:  # Keras [kh, kw, in, out] -> torch [out, in, kh, kw]
                kernel = take(f"{conv}/kernel", (w.shape[2], w.shape[3], w.shape[1], w.shape[0])).permute(3, 2, 0, 1)
            w.copy_(kernel)
            n = module.bn.num_features
            module.bn.weight.copy_(take(f"{bn}/gamma", (n,)))
            module.bn.bias.copy_(take(f"{bn}/beta", (n,)))
            module.bn.running_mean.copy_(take(f"{bn}/moving_mean", (n,)))
            module.bn.running_var.copy_(take(f"{bn}/moving_variance", (n,)))
        for name in ("dense_1", "dense_2", "dense_3"):
            linear = getattr(model.head, name)
            linear.weight.copy_(take(f"{name}/kernel", (linear.in_features, linear.out_features)).t())
            linear.bias.copy_(take(f"{name}/bias", (linear.out_features,)))
    unused = set(weights) - used
    if unused:
        raise ValueError(f"nsfwjs weights not placed in the PyTorch model: {sorted(unused)[:5]}")
    return model.eval()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--nsfwjs-dir", type=Path, default=NSFWJS_MODEL_DIR, help="nsfwjs mobilenet_v2 model folder")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "runs" / "nsfwjs_mobilenet_v2.pt",
                        help="where to save the PyTorch state_dict")
    args = parser.parse_args(argv)
    model = build_nsfwjs_model(args.nsfwjs_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    params = sum(p.numel() for p in model.parameters())
    print(f"convert_nsfwjs: {params} parameters -> {args.out}")


if __name__ == "__main__":
    main()
