#!/usr/bin/python3
"""Static int8 quantisation of the exported Illust Only ONNX model (QDQ format), calibrated on real images.

Why it exists: issue 6 asks whether an int8 model is a fair speed lever. Python's onnxruntime (and its
quantize tools) is not in Debian and cannot be installed here, but the QDQ format is simple: ONNX Runtime
fuses QuantizeLinear/DequantizeLinear pairs around Conv and Add into integer kernels (QLinearConv,
QLinearAdd), and runs whatever it does not fuse in float through the same values, so the file is correct
on every provider. The benchmark (npm run bench, levers) builds one and times it next to the float model.
Measured here: 2.5x faster in native onnxruntime-node, ~2x *slower* in ORT-web's wasm kernels, so the
extension ships the float model.

What it does to the float model:
1. ORT's hardware-independent ("basic") rewrite via tools/onnx-reference.mjs: BatchNorm folded, constant
   shape arithmetic gone. (Keras' asymmetric padding is already inside the Conv pads: tools/training/export_onnx.py
   writes no Pad nodes, so every Conv reads a quantised tensor directly.)
2. Calibration: every activation that a Conv, Add or the final pooling reads is recorded on real images
   (min/max, onnxruntime-node), giving uint8 scales and zero points (ReLU6 outputs get zero point 0, so ORT
   can drop the Clip).
3. Weights: int8 on a 7-bit grid (-63..63), symmetric, one scale per output channel; biases int32 at input
   scale x weight scale. 7 bits because x86 CPUs without VNNI (AVX2 only) multiply uint8 x int8 pairs into
   saturating int16 sums: full-range weights overflowed there and moved probabilities 0.055 on average
   (one image 0.21 -> 0.75 illustration); 7-bit weights measured 0.015 on the same images.
   The classifier head (Gemm) and softmax stay float: they are tiny and set the probabilities' precision.

Example: /usr/bin/python3 tools/training/quantize_onnx.py --out build/bench/illust-only.int8.onnx
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import illust_data as data
from export_onnx import onnx_reference_on_inputs, run_onnx_reference

# Activations read by these ops (at these input positions) are quantised.
QUANTISED_READERS = {"Conv": (0,), "Add": (0, 1), "ReduceMean": (0,), "GlobalAveragePool": (0,)}
DEQUANTIZED = "/dequantized"


def basic_optimised(float_path: Path) -> onnx.ModelProto:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "basic.onnx"
        run_onnx_reference("--model", str(float_path), "--optimize-to", str(out))
        return onnx.load(str(out))


def drop_unused_initializers(graph: onnx.GraphProto) -> None:
    used = {name for node in graph.node for name in node.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)


def activations_to_quantise(model: onnx.ModelProto) -> list[str]:
    inits = {i.name for i in model.graph.initializer}
    names = []
    for node in model.graph.node:
        for index in QUANTISED_READERS.get(node.op_type, ()):
            name = node.input[index]
            if name not in inits and name not in names:
                names.append(name)
    return names


def calibrate(model: onnx.ModelProto, names: list[str], inputs: np.ndarray) -> dict[str, tuple[float, float]]:
    """min/max of each named tensor over the calibration inputs [N,3,H,W], via onnxruntime-node."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    outputs = {o.name for o in probe.graph.output}
    graph_inputs = {i.name for i in probe.graph.input}
    for name in names:
        if name not in outputs and name not in graph_inputs:
            probe.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "probe.onnx"
        onnx.save(probe, str(path))
        ranges = onnx_reference_on_inputs(path, inputs, "--ranges")["ranges"]
    lo, hi = float(inputs.min()), float(inputs.max())
    return {name: (lo, hi) if name in graph_inputs else (ranges[name]["min"], ranges[name]["max"]) for name in names}


def uint8_params(lo: float, hi: float) -> tuple[np.float32, np.uint8]:
    """Asymmetric uint8 scale and zero point whose grid holds 0 exactly and covers [lo, hi]."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    return np.float32(scale), np.uint8(int(np.clip(round(-lo / scale), 0, 255)))


def qdq_pair(name: str, lo: float, hi: float):
    """Initializers and the QuantizeLinear -> DequantizeLinear nodes for one activation."""
    scale, zero_point = uint8_params(lo, hi)
    s, z = f"{name}/q_scale", f"{name}/q_zero"
    inits = [numpy_helper.from_array(np.array(scale, np.float32), s), numpy_helper.from_array(np.array(zero_point, np.uint8), z)]
    nodes = [helper.make_node("QuantizeLinear", [name, s, z], [f"{name}/quantized"], name=f"{name}/QuantizeLinear"),
             helper.make_node("DequantizeLinear", [f"{name}/quantized", s, z], [name + DEQUANTIZED], name=f"{name}/DequantizeLinear")]
    return float(scale), inits, nodes


def quantised_conv_weights(conv: onnx.NodeProto, inits: dict, input_scale: float):
    """Per-output-channel int8 weight (and int32 bias) initializers plus their DequantizeLinear nodes."""
    w = numpy_helper.to_array(inits[conv.input[1]]).astype(np.float32)
    w_scale = (np.maximum(np.abs(w.reshape(w.shape[0], -1)).max(axis=1), 1e-8) / 63.0).astype(np.float32)
    w_q = np.clip(np.round(w / w_scale.reshape(-1, *([1] * (w.ndim - 1)))), -63, 63).astype(np.int8)
    name = conv.input[1]
    new_inits = [numpy_helper.from_array(w_q, f"{name}/int8"), numpy_helper.from_array(w_scale, f"{name}/w_scale"),
                 numpy_helper.from_array(np.zeros(w.shape[0], np.int8), f"{name}/w_zero")]
    nodes = [helper.make_node("DequantizeLinear", [f"{name}/int8", f"{name}/w_scale", f"{name}/w_zero"], [name + DEQUANTIZED],
                              axis=0, name=f"{name}/DequantizeLinear")]
    conv.input[1] = name + DEQUANTIZED
    if len(conv.input) > 2 and conv.input[2] in inits:
        bias = conv.input[2]
        b = numpy_helper.to_array(inits[bias]).astype(np.float64)
        b_scale = (input_scale * w_scale.astype(np.float64)).astype(np.float32)
        limit = np.iinfo(np.int32).max
        b_q = np.clip(np.round(b / b_scale.astype(np.float64)), -limit, limit).astype(np.int32)
        new_inits += [numpy_helper.from_array(b_q, f"{bias}/int32"), numpy_helper.from_array(b_scale, f"{bias}/b_scale"),
                      numpy_helper.from_array(np.zeros(len(b_q), np.int32), f"{bias}/b_zero")]
        nodes.append(helper.make_node("DequantizeLinear", [f"{bias}/int32", f"{bias}/b_scale", f"{bias}/b_zero"],
                                      [bias + DEQUANTIZED], axis=0, name=f"{bias}/DequantizeLinear"))
        conv.input[2] = bias + DEQUANTIZED
    return new_inits, nodes


def insert_qdq(model: onnx.ModelProto, ranges: dict[str, tuple[float, float]]) -> None:
    """Q/DQ on each calibrated activation (its readers read the dequantised copy), int8 Conv weights."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    after, scales = {}, {}
    for name, (lo, hi) in ranges.items():
        scales[name], new_inits, nodes = qdq_pair(name, lo, hi)
        graph.initializer.extend(new_inits)
        for node in graph.node:
            for i, input_name in enumerate(node.input):
                if input_name == name:
                    node.input[i] = name + DEQUANTIZED
        after[name] = nodes
    first = []
    for conv in [n for n in graph.node if n.op_type == "Conv"]:
        source = conv.input[0][:-len(DEQUANTIZED)] if conv.input[0].endswith(DEQUANTIZED) else None
        if source in scales and conv.input[1] in inits:
            new_inits, nodes = quantised_conv_weights(conv, inits, scales[source])
            graph.initializer.extend(new_inits)
            first += nodes
    # Topological order: weight DQs, the graph input's Q/DQ, then each activation's pair after its producer.
    ordered = first + [n for i in graph.input for n in after.pop(i.name, [])]
    for node in list(graph.node):
        ordered.append(node)
        for output in node.output:
            ordered += after.pop(output, [])
    del graph.node[:]
    graph.node.extend(ordered)
    drop_unused_initializers(graph)


def quantize(float_path: Path, out_path: Path, calibration_inputs: np.ndarray) -> dict:
    """Writes the int8 QDQ model of float_path to out_path; returns a short report."""
    model = basic_optimised(Path(float_path))
    names = activations_to_quantise(model)
    insert_qdq(model, calibrate(model, names, calibration_inputs))
    onnx.checker.check_model(model)
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out_path))
    return {"activations": len(names), "calibration_images": int(len(calibration_inputs)),
            "bytes": Path(out_path).stat().st_size}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", type=Path, default=data.REPO_ROOT / "model" / "illust-only.onnx", help="float ONNX model")
    p.add_argument("--out", type=Path, required=True, help="int8 ONNX model to write")
    p.add_argument("--contract", type=Path, default=data.CONTRACT_PATH, help="the model's preprocessing contract")
    p.add_argument("--data", type=Path, default=data.default_data_dir(), help="data folder with calibration images")
    p.add_argument("--calibration-images", type=int, default=100, help="images spread over all sources and classes")
    args = p.parse_args(argv)
    contract = data.load_contract(args.contract)
    samples = data.list_samples(args.data)
    picks = [samples[i] for i in np.linspace(0, len(samples) - 1, args.calibration_images).astype(int)]
    inputs = np.stack([data.eval_tensor(s.path, contract) for s in picks])
    print("quantize_onnx:", json.dumps(quantize(args.model, args.out, inputs)))


if __name__ == "__main__":
    main()
