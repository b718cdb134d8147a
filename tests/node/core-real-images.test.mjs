// core-real-images.test.mjs: the wasm core against Python's training pipeline on real images from
// ILLUST_ONLY_DATA (skips, saying so, when the data set is absent).
//  1. Identical RGB input (the core's own decode): the core's tensor must equal PIL
//     img.resize((W, H), Image.BOX) + float32 normalisation; we allow 1/255 and expect exactly 0.
//  2. Whole pipeline, bytes in (stb_image decode vs PIL/libjpeg decode): small differences are
//     expected from JPEG IDCT/upsampling rounding; the test pins how small, and prints the figures.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { loadCore } from '../../web/lib/core.js';
import { python, readContract, root } from './core-helpers.mjs';

const dataDir = process.env.ILLUST_ONLY_DATA ?? path.join(root, '..', 'shared', 'data');
const CLASSES = ['illustration', 'screenshot', 'photo'];
const PER_CLASS = 4;

// Python's side: PIL BOX resize + float32 normalisation, NCHW, from raw RGB or from the file itself.
const PIL_PIPELINE = `
import json, sys
import numpy as np
from PIL import Image
contract = json.load(open(sys.argv[1]))
pre = contract["preprocess"]
size = (contract["input"]["width"], contract["input"]["height"])
scale = np.float32(pre["scale"])
mean = np.array(pre["mean"], np.float32)[:, None, None]
std = np.array(pre["std"], np.float32)[:, None, None]
for job in json.load(open(sys.argv[2])):
    if "raw" in job:
        img = Image.frombytes("RGB", (job["width"], job["height"]), open(job["raw"], "rb").read())
    else:
        img = Image.open(job["file"]).convert("RGB")
    px = np.asarray(img.resize(size, Image.BOX), np.float32).transpose(2, 0, 1)
    open(job["out"], "wb").write(((px * scale - mean) / std).astype(np.float32).tobytes())
`;

function pickImages() {
  const picked = [];
  for (const cls of CLASSES) {
    const files = [];
    for (const source of readdirSync(path.join(dataDir, cls)).sort()) {
      for (const f of readdirSync(path.join(dataDir, cls, source)).sort()) files.push(path.join(dataDir, cls, source, f));
    }
    for (let i = 0; i < PER_CLASS; i++) picked.push(files[Math.floor(((i + 0.5) * files.length) / PER_CLASS)]);
  }
  return picked;
}

test('tensors match Python\'s PIL pipeline on real images', { skip: existsSync(dataDir) ? false : `real-image data not found at ${dataDir} (set ILLUST_ONLY_DATA)` }, async (t) => {
  const core = await loadCore();
  const contract = readContract();
  const level = Math.abs(contract.preprocess.scale / contract.preprocess.std[0]); // one pixel level, normalised
  const work = mkdtempSync(path.join(tmpdir(), 'illust-core-real-'));
  try {
    const files = pickImages();
    const jobs = [];
    const ours = [];
    files.forEach((file, i) => {
      const bytes = readFileSync(file);
      const decoded = core.decode(bytes, { contract });
      assert.equal(decoded.ok, true, `${file}: ${decoded.message}`);
      const tensor = core.toTensor(bytes, contract);
      assert.equal(tensor.ok, true, `${file}: ${tensor.message}`);
      writeFileSync(path.join(work, `${i}.rgb`), decoded.pixels);
      jobs.push({ raw: path.join(work, `${i}.rgb`), width: decoded.width, height: decoded.height, out: path.join(work, `${i}.same-rgb.f32`) });
      jobs.push({ file, out: path.join(work, `${i}.pil-decode.f32`) });
      ours.push(tensor.tensor);
    });
    writeFileSync(path.join(work, 'jobs.json'), JSON.stringify(jobs));
    python(PIL_PIPELINE, [path.join(root, 'model', 'contract.json'), path.join(work, 'jobs.json')]);

    let worstSame = 0;
    const pipelineStats = [];
    files.forEach((file, i) => {
      const same = new Float32Array(new Uint8Array(readFileSync(path.join(work, `${i}.same-rgb.f32`))).buffer);
      const pil = new Float32Array(new Uint8Array(readFileSync(path.join(work, `${i}.pil-decode.f32`))).buffer);
      let maxSame = 0;
      let sumPipe = 0;
      let maxPipe = 0;
      for (let j = 0; j < same.length; j++) {
        maxSame = Math.max(maxSame, Math.abs(ours[i][j] - same[j]));
        const d = Math.abs(ours[i][j] - pil[j]);
        sumPipe += d;
        maxPipe = Math.max(maxPipe, d);
      }
      worstSame = Math.max(worstSame, maxSame);
      pipelineStats.push({ file: path.basename(file), mean: sumPipe / same.length / level, max: maxPipe / level });
      assert.ok(maxSame <= level * 1.0001, `${file}: max |diff| ${maxSame / level} levels on identical RGB input`);
    });
    const meanOfMeans = pipelineStats.reduce((a, s) => a + s.mean, 0) / pipelineStats.length;
    const worstMax = Math.max(...pipelineStats.map((s) => s.max));
    t.diagnostic(`identical RGB input: max |diff| ${(worstSame / level).toFixed(4)} pixel levels over ${files.length} images`);
    t.diagnostic(`bytes in (stb vs PIL decode): mean |diff| ${meanOfMeans.toFixed(3)} levels, worst pixel ${worstMax.toFixed(1)} levels`);
    assert.equal(worstSame, 0, 'the BOX resize is expected to be bit-exact with PIL');
    // JPEG decoders legitimately differ a little (measured: mean 0.05, worst 2 levels on 12 images).
    assert.ok(meanOfMeans < 0.5, `stb vs PIL decode: mean |diff| ${meanOfMeans} levels`);
    assert.ok(worstMax < 8, `stb vs PIL decode: worst pixel ${worstMax} levels`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
