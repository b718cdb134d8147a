#!/usr/bin/env node
// Runs the real nsfwjs 4.4.0 (MobileNetV2, TF.js CPU backend) on raw RGB pixels and writes its five class
// probabilities as JSON. Why: tools/training/convert_nsfwjs.py rebuilds that model in PyTorch, and the only honest
// proof that the rebuild is exact is nsfwjs's own output on the very same pixel arrays.
//
// Usage: node tools/nsfwjs-reference.mjs --pixels FILE --width W --height H --out FILE.json
//   FILE holds N images back to back, each H*W*3 uint8 RGB, row-major (what numpy's uint8 [N,H,W,3]
//   .tobytes() writes). nsfwjs divides by 255 and, only when the size is not 224x224, resizes with
//   resizeBilinear(alignCorners=true): pass 224x224 pixels to compare the network alone.
// Output: {"classes": [...5 names], "probs": [[p0..p4], ...one row per image], "backend": "cpu"}.
import { readFile, writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import * as nsfwjs from 'nsfwjs';
import { toolArgsOrExit } from './lib/run-cli.mjs';

const CLASSES = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];

function fail(message) {
  console.error(`nsfwjs-reference: ${message}`);
  process.exit(2);
}

const USAGE = 'usage: node tools/nsfwjs-reference.mjs --pixels FILE --width W --height H --out FILE.json\n' +
  '  FILE: N images back to back, each H*W*3 uint8 RGB, row-major; writes nsfwjs 4.4.0\'s five class probabilities as JSON';
const values = toolArgsOrExit('nsfwjs-reference', USAGE, {
  pixels: { type: 'string' },
  width: { type: 'string', default: '224' },
  height: { type: 'string', default: '224' },
  out: { type: 'string' },
});
if (!values.pixels || !values.out) fail('need --pixels FILE and --out FILE.json');
const width = Number(values.width);
const height = Number(values.height);
if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) fail('bad --width/--height');

const bytes = await readFile(values.pixels);
const imageBytes = width * height * 3;
if (bytes.length === 0 || bytes.length % imageBytes !== 0) {
  fail(`${values.pixels} has ${bytes.length} bytes, not a multiple of ${width}x${height}x3`);
}

await tf.setBackend('cpu');
await tf.ready();
// Silence nsfwjs's "you're using the default model" banners: stdout stays clean for callers.
const info = console.info;
console.info = () => {};
const model = await nsfwjs.load('MobileNetV2');
console.info = info;

const probs = [];
for (let offset = 0; offset < bytes.length; offset += imageBytes) {
  const pixels = new Int32Array(bytes.subarray(offset, offset + imageBytes));
  const image = tf.tensor3d(pixels, [height, width, 3], 'int32');
  const output = model.infer(image); // softmax of dense_3, NSFW_CLASSES order
  probs.push(Array.from(await output.data()));
  tf.dispose([image, output]);
}
await writeFile(values.out, JSON.stringify({ classes: CLASSES, probs, backend: tf.getBackend() }));
console.log(`nsfwjs-reference: ${probs.length} images -> ${values.out}`);
