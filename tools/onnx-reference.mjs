#!/usr/bin/env node
// Runs an ONNX model with onnxruntime-node on raw float32 input tensors and writes every output as JSON.
// Why: Python here has no onnxruntime, yet tools/training/export_onnx.py and tests/python must prove that the
// exported file computes what the PyTorch model computes, in the runtime family the product uses.
//
// Usage: node tools/onnx-reference.mjs --model M.onnx --input X.f32 --dims N,3,224,224 --out OUT.json [--ranges]
//        node tools/onnx-reference.mjs --model M.onnx --optimize-to OUT.onnx
//   X.f32: little-endian float32 values, row-major, product(dims) of them (numpy .astype('<f4').tobytes()).
// Output: {"outputs": {name: {"dims": [...], "data": [...flat values]}}, "inputName": "input"}; with
//   --ranges, runs the N inputs one at a time and writes only each output's {"min", "max"} over all of them
//   (int8 calibration of every intermediate tensor, without holding them all in memory).
// --optimize-to: saves ORT's hardware-independent ("basic") rewrite of the graph: constants folded, BatchNorm
//   fused, shape arithmetic gone: the clean graph tools/training/quantize_onnx.py works on.
import { readFile, writeFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { toolArgsOrExit } from './lib/run-cli.mjs';

function fail(message) {
  console.error(`onnx-reference: ${message}`);
  process.exit(2);
}

const USAGE = 'usage: node tools/onnx-reference.mjs --model M.onnx --input X.f32 --dims N,3,224,224 --out OUT.json [--ranges]\n' +
  '       node tools/onnx-reference.mjs --model M.onnx --optimize-to OUT.onnx\n' +
  '  X.f32: little-endian float32 values, row-major; writes every output as JSON (--ranges: each output\'s min and max)';
const values = toolArgsOrExit('onnx-reference', USAGE, {
  model: { type: 'string' }, input: { type: 'string' }, dims: { type: 'string' }, out: { type: 'string' },
  ranges: { type: 'boolean' }, 'optimize-to': { type: 'string' },
});
if (values.model && values['optimize-to']) {
  await ort.InferenceSession.create(values.model, { graphOptimizationLevel: 'basic', optimizedModelFilePath: values['optimize-to'] });
  console.log(`onnx-reference: basic-optimised graph -> ${values['optimize-to']}`);
  process.exit(0);
}
if (!values.model || !values.input || !values.dims || !values.out) fail('need --model, --input, --dims and --out');
const dims = values.dims.split(',').map(Number);
if (dims.some((d) => !Number.isInteger(d) || d < 1)) fail(`bad --dims ${values.dims}`);
const bytes = await readFile(values.input);
const count = dims.reduce((a, b) => a * b, 1);
if (bytes.length !== count * 4) fail(`${values.input} has ${bytes.length} bytes, dims need ${count * 4}`);
const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));

const session = await ort.InferenceSession.create(values.model, { intraOpNumThreads: 2 });
const inputName = session.inputNames[0];
if (values.ranges) {
  const ranges = {};
  const perImage = count / dims[0];
  for (let i = 0; i < dims[0]; i++) {
    const one = data.subarray(i * perImage, (i + 1) * perImage);
    const results = await session.run({ [inputName]: new ort.Tensor('float32', one, [1, ...dims.slice(1)]) });
    for (const name of session.outputNames) {
      const r = (ranges[name] ??= { min: Infinity, max: -Infinity });
      for (const v of results[name].data) {
        if (v < r.min) r.min = v;
        if (v > r.max) r.max = v;
      }
    }
  }
  await writeFile(values.out, JSON.stringify({ inputName, ranges }));
  console.log(`onnx-reference: ranges of ${session.outputNames.length} outputs over ${dims[0]} inputs -> ${values.out}`);
  process.exit(0);
}
const results = await session.run({ [inputName]: new ort.Tensor('float32', data, dims) });
const outputs = {};
for (const name of session.outputNames) outputs[name] = { dims: results[name].dims, data: Array.from(results[name].data) };
await writeFile(values.out, JSON.stringify({ inputName, outputs }));
console.log(`onnx-reference: ${dims[0]} inputs -> ${values.out}`);
