// Runs tools/evaluate.mjs end to end on a tiny labelled tree built at test time from real images
// (a few per class and source, copied from ILLUST_ONLY_DATA into a temp folder, never into the repo),
// plus one photo deliberately filed under illustration/ so there is a known mistake to analyse. Checks
// the printed matrix, the per-source table, the nsfwjs column and the HTML error analysis.
// Needs the wasm core build, model/illust-only.onnx and the data; skips with a message otherwise.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { crc32, encodePngRgb } from '../../tools/lib/thumbnail.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(ROOT, 'tools', 'evaluate.mjs');
const DATA = process.env.ILLUST_ONLY_DATA ?? path.resolve(ROOT, '..', 'shared', 'data');
const LABELS = ['illustration', 'screenshot', 'photo'];
const SOURCES = { illustration: ['style2paints-inputs', 'lealiu'], screenshot: ['auto-derby', 'nanobot-coc'], photo: ['food_mnist', 'the-bread-code'] };
// A food photo the model calls photo with a wide margin (p(illustration) 0.03 against a threshold near 0.1).
const MISFILED = { from: 'photo/based-cooking', to: 'illustration/misfiled-photos' };
// ILLUST_ONLY_MODEL: evaluate another model file (default: the shipped one).
const MODEL = process.env.ILLUST_ONLY_MODEL ?? path.join(ROOT, 'model', 'illust-only.onnx');
const HAS_FOLDS = existsSync(path.join(ROOT, 'model', 'folds.json')) && existsSync(path.join(ROOT, 'model', 'oof-predictions.tsv'));

const missing = [
  ...(existsSync(path.join(ROOT, 'build', 'wasm', 'illust_core.wasm')) ? [] : ['the wasm core build (run `npm run build`)']),
  ...(existsSync(MODEL) ? [] : [path.relative(ROOT, MODEL)]),
  ...(existsSync(DATA) ? [] : [`real-image data at ${DATA} (set ILLUST_ONLY_DATA)`]),
];
const skip = missing.length ? `needs ${missing.join(', ')}` : false;
// What needs no real images: the core build and the model.
const pipelineMissing = missing.filter((what) => !what.startsWith('real-image data'));
const pipelineSkip = pipelineMissing.length ? `needs ${pipelineMissing.join(', ')}` : false;
if (skip) console.log(`# evaluate-cli: skipping: ${skip}`);

function runEvaluate(args, timeoutMs = 120000) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`evaluate timed out\n${stderr}`)); }, timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

describe('evaluate CLI on a tiny real tree', { skip }, () => {
  let dir, tree, out, run;
  const copied = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'illust-evaluate-'));
    tree = path.join(dir, 'data');
    out = path.join(dir, 'out');
    const copyFirst = async (fromRel, toRel, n) => {
      const files = (await readdir(path.join(DATA, fromRel))).sort().slice(0, n);
      await mkdir(path.join(tree, toRel), { recursive: true });
      for (const file of files) {
        await copyFile(path.join(DATA, fromRel, file), path.join(tree, toRel, file));
        copied.push(`${toRel}/${file}`);
      }
    };
    for (const [label, sources] of Object.entries(SOURCES)) {
      for (const source of sources) await copyFirst(`${label}/${source}`, `${label}/${source}`, 2);
    }
    await copyFirst(MISFILED.from, MISFILED.to, 1);
    await mkdir(path.join(tree, 'not-a-class'));
    await writeFile(path.join(tree, 'README.md'), 'ignored');
    // Defaults: model/folds.json + oof-predictions.tsv and model/label-corrections.tsv when they exist.
    run = await runEvaluate([tree, '--out', out, ...(process.env.ILLUST_ONLY_MODEL ? ['--model', MODEL] : [])]);
  });
  after(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

  test('exits 0 and prints the confusion matrix with recall and precision', () => {
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /13 images from 7 sources/);
    assert.match(run.stdout, /truth \\ predicted\s+illustration\s+screenshot\s+photo\s+recall/);
    for (const label of LABELS) assert.match(run.stdout, new RegExp(`^${label}\\s+\\d+\\s+\\d+\\s+\\d+\\s+[\\d.]+%`, 'm'));
    assert.match(run.stdout, /^precision\s+([\d.]+%|n\/a)\s/m);
    assert.match(run.stdout, /accuracy [\d.]+% \(\d+\/13\)/);
    assert.match(run.stderr, /ignoring folders that are not classes: not-a-class/);
  });

  test('prints one per-source row per class/source and the nsfwjs baseline beside ours', () => {
    for (const [label, sources] of Object.entries(SOURCES)) {
      for (const source of sources) assert.match(run.stdout, new RegExp(`^${label}/${source}\\s+2\\s`, 'm'));
    }
    assert.match(run.stdout, new RegExp(`^${MISFILED.to}\\s+1\\s`, 'm'));
    assert.match(run.stdout, /^ours(, shipped model)?\s+13\s+[\d.]+%/m);
    assert.match(run.stdout, /^nsfwjs 4\.4\.0 \(Drawing\+Hentai ≥ 0\.5\)\s+13\s+[\d.]+%/m);
  });

  test('writes the HTML error analysis with the misfiled photo, its thumbnail and scores', async () => {
    const html = await readFile(path.join(out, 'report.html'), 'utf8');
    assert.match(html, /^<!doctype html>/);
    const misfiled = copied.find((rel) => rel.startsWith(MISFILED.to));
    const at = html.indexOf(`>${misfiled}<`);
    assert.ok(at > 0, 'the misfiled photo is listed as a mistake');
    const cardStart = html.lastIndexOf('<figure>', at);
    const card = html.slice(cardStart, html.indexOf('</figure>', at));
    const thumb = card.match(/<img src="(thumbs\/\d+\.png)" loading="lazy"/)?.[1];
    assert.ok(thumb, 'the card shows a thumbnail');
    const png = await readFile(path.join(out, thumb));
    assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
    assert.ok(png.length > 500);
    assert.match(card, /said <b>(photo|screenshot)<\/b>/);
    assert.match(card, /class="value">\d\.\d{3}</);
    assert.match(card, /nsfwjs: Drawing\+Hentai \d\.\d{3}/);
    assert.match(html, /illustration → (photo|screenshot)/);
  });

  test('reports held-out figures apart from in-sample ones when training saved its folds', { skip: HAS_FOLDS ? false : 'no model/folds.json + oof-predictions.tsv' }, async () => {
    assert.match(run.stdout, /== Held-out \(honest\): each image judged by a model that never saw its source ==/);
    assert.match(run.stdout, /== Shipped model \(in-sample\) ==/);
    assert.ok(run.stdout.indexOf('Held-out') < run.stdout.indexOf('Shipped model'), 'held-out first');
    // 12 of 13 images have saved out-of-fold predictions; the misfiled copy is not in the data set
    assert.match(run.stdout, /^ours, held-out\s+12\s/m);
    assert.match(run.stdout, /held-out correct/);
  });

  test('writes predictions.jsonl, report.md and args.json', async () => {
    const lines = (await readFile(path.join(out, 'predictions.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 13);
    for (const line of lines) {
      assert.ok(LABELS.includes(line.truth));
      assert.ok(LABELS.includes(line.ours.label), JSON.stringify(line));
      assert.ok(Number.isFinite(line.nsfw.illustration));
      assert.ok(!('thumb' in line) && !('path' in line), 'no thumbnails or absolute paths in predictions');
    }
    const md = await readFile(path.join(out, 'report.md'), 'utf8');
    assert.match(md, /^# Illust Only evaluation\n\n- 13 images from 7 sources in data\.\n- Model /);
    assert.ok(!md.includes(dir), 'no temp paths in the committed-style summary');
    assert.match(md, /\| truth \\ predicted \| illustration \| screenshot \| photo \| recall \|/);
    const args = JSON.parse(await readFile(path.join(out, 'args.json'), 'utf8'));
    assert.equal(args.resolved.folds, HAS_FOLDS ? path.join(ROOT, 'model', 'folds.json') : null);
  });
});

describe('evaluate CLI: files it cannot open, odd names, and where the results go', { skip }, () => {
  let dir, tree;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'illust-evaluate-odd-'));
    tree = path.join(dir, 'data');
    await mkdir(path.join(tree, 'illustration', 'a'), { recursive: true });
    await mkdir(path.join(tree, 'photo', 'b'), { recursive: true });
    const first = async (rel) => path.join(DATA, rel, (await readdir(path.join(DATA, rel))).sort()[0]);
    await copyFile(await first('illustration/style2paints-inputs'), path.join(tree, 'illustration', 'a', 'x.jpg'));
    const photo = await first('photo/food_mnist');
    await copyFile(photo, path.join(tree, 'photo', 'b', 'y.jpg'));
    // A name that is not UTF-8 (a Latin-1 "é"), as old archives have: it must be read, not "missing".
    await copyFile(photo, Buffer.concat([Buffer.from(path.join(tree, 'photo', 'b', 'caf')), Buffer.from([0xe9]), Buffer.from('.jpg')]));
    // A WebP (PIL, lossy): walked and judged like any image.
    execFileSync('/usr/bin/python3', ['-c', 'import sys; from PIL import Image; Image.open(sys.argv[1]).save(sys.argv[2], quality=80)',
      photo, path.join(tree, 'photo', 'b', 'z.webp')]);
    await symlink('nowhere.jpg', path.join(tree, 'photo', 'b', 'dangling.jpg')); // an image that cannot be opened
    await symlink('nowhere.txt', path.join(tree, 'photo', 'b', 'notes.txt'));   // not an image: skipped
    execFileSync('mkfifo', [path.join(tree, 'photo', 'b', 'pipe.jpg')]);
  });
  after(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

  test('an image file that cannot be opened counts as unreadable; a non-UTF-8 name and a WebP are judged', async () => {
    const out = path.join(dir, 'out');
    const { code, stdout, stderr } = await runEvaluate([tree, '--out', out, '--no-baseline', '--no-thumbnails']);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /6 images from 2 sources/);
    assert.match(stdout, /unreadable 2/);
    const lines = (await readFile(path.join(out, 'predictions.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    const byName = new Map(lines.map((line) => [path.basename(line.rel), line]));
    assert.deepEqual([...byName.keys()].sort(), ['caf\ufffd.jpg', 'dangling.jpg', 'pipe.jpg', 'x.jpg', 'y.jpg', 'z.webp']);
    assert.equal(byName.get('z.webp').ours.error, undefined);
    assert.ok(['illustration', 'screenshot', 'photo'].includes(byName.get('z.webp').ours.label), JSON.stringify(byName.get('z.webp').ours));
    assert.match(byName.get('dangling.jpg').ours.error, /no such file/);
    assert.equal(byName.get('pipe.jpg').ours.error, 'not a regular file');
    assert.deepEqual(byName.get('caf\ufffd.jpg').ours, { ...byName.get('y.jpg').ours, ms: byName.get('caf\ufffd.jpg').ours.ms });
  });

  test('a reader that stops early (`| true`, `2>&1 | head -1`) still leaves the whole report, and the run exits 0', async () => {
    for (const closed of ['stdout', 'stderr']) {
      const out = path.join(dir, `out-closed-${closed}`);
      const child = spawn(process.execPath, [CLI, tree, '--out', out, '--no-baseline'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      child[closed].destroy(); // the reader is gone before the first line: every write to it fails (EPIPE)
      let said = '';
      child[closed === 'stdout' ? 'stderr' : 'stdout'].on('data', (d) => { said += d; });
      const code = await new Promise((resolve) => child.on('close', resolve));
      assert.equal(code, 0, `${closed} closed: ${said}`);
      assert.doesNotMatch(said, /unexpected failure|at .*\.mjs:\d+/, 'no stack trace');
      if (closed === 'stderr') assert.match(said, /^6 images from 2 sources/, 'the tables are printed');
      assert.deepEqual((await readdir(out)).sort(), ['args.json', 'predictions.jsonl', 'report.html', 'report.md', 'thumbs'], `${closed} closed`);
      assert.equal((await readFile(path.join(out, 'predictions.jsonl'), 'utf8')).trim().split('\n').length, 6);
      assert.match(await readFile(path.join(out, 'report.html'), 'utf8'), /<\/html>\s*$/);
    }
  });

  test('images training never saw get no held-out section and no claim that the model was trained on them', { skip: HAS_FOLDS ? false : 'no model/folds.json + oof-predictions.tsv' }, async () => {
    // The tree's files are renamed copies (a/x.jpg, b/y.jpg): none is in oof-predictions.tsv.
    const out = path.join(dir, 'out-unseen');
    const { code, stdout, stderr } = await runEvaluate([tree, '--out', out, '--no-baseline']);
    assert.equal(code, 0, stderr);
    assert.match(stderr, /held-out figures from .*folds\.json/, 'the fold file was read');
    assert.doesNotMatch(stdout, /Held-out|trained on most or all of these sources/);
    assert.match(stdout, /none of these images has an out-of-fold prediction saved by training \(folds\.json\), so no held-out figures/);
    const html = await readFile(path.join(out, 'report.html'), 'utf8');
    assert.doesNotMatch(html, /Misclassified, held-out/, 'no empty held-out gallery that reads "None."');
    assert.match(html, /Misclassified by the shipped model/);
  });

  test('a mistake whose name is not UTF-8 links to its file in report.html', async () => {
    const misfiledTree = path.join(dir, 'misfiled');
    const folder = path.join(misfiledTree, 'illustration', 's');
    await mkdir(folder, { recursive: true });
    const name = Buffer.concat([Buffer.from(`${folder}/caf`), Buffer.from([0xe9]), Buffer.from('.jpg')]);
    await copyFile(path.join(DATA, MISFILED.from, (await readdir(path.join(DATA, MISFILED.from))).sort()[0]), name);
    const out = path.join(dir, 'out-misfiled');
    const { code, stderr } = await runEvaluate([misfiledTree, '--out', out, '--no-baseline', '--folds', 'none']);
    assert.equal(code, 0, stderr);
    const href = (await readFile(path.join(out, 'report.html'), 'utf8')).match(/<figure><a href="(file:[^"]+)"/)?.[1];
    assert.ok(href, 'the misfiled photo has a card');
    // file: URLs carry a path's bytes percent-encoded, as browsers open them.
    const bytes = Buffer.from(href.slice('file://'.length).replace(/%([0-9A-F]{2})/gi, (_, hex) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
    assert.ok(bytes.equals(name), `${href} names ${bytes.toString('latin1')}`);
  });

  test('an --out or --summary-md that cannot be written stops the run before it starts (exit 2)', async () => {
    const aFile = path.join(tree, 'illustration', 'a', 'x.jpg');
    for (const [args, message] of [
      [['--out', aFile], /cannot write the results: EEXIST/],
      [['--out', path.join(dir, 'out2'), '--summary-md', path.join(dir, 'no-such-folder', 'S.md')], /cannot write the results: --summary-md .*: no folder/],
      [['--out', path.join(dir, 'out3'), '--summary-md', tree], /cannot write the results: --summary-md .* is a folder/],
    ]) {
      const { code, stdout, stderr } = await runEvaluate([tree, '--no-baseline', ...args]);
      assert.equal(code, 2, stderr);
      assert.equal(stdout, '', 'nothing was judged');
      assert.doesNotMatch(stderr, /images \(/, 'no progress lines');
      assert.match(stderr, message);
    }
  });
});

describe('evaluate CLI: memory on a folder of big files it gets wrong', { skip: pipelineSkip }, () => {
  let dir;
  after(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

  // One 16 MB PNG (a small picture behind a big private chunk, as a camera's metadata can be) linked
  // into each class folder: whatever the model says, two of its three copies are mistakes, which get
  // thumbnails. Measured once every image is judged, after a full GC: what the run still holds.
  test('the bytes of images judged wrong are not held until the end of the run', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'illust-evaluate-big-'));
    const pixels = new Uint8Array(96 * 64 * 3).map((_, i) => (i * 37) & 255);
    const png = encodePngRgb(pixels, 96, 64);
    const body = Buffer.concat([Buffer.from('prVt', 'latin1'), Buffer.alloc(16 * 1024 * 1024)]);
    const length = Buffer.alloc(4); length.writeUInt32BE(body.length - 4);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(body));
    const bigPng = Buffer.concat([png.subarray(0, 33), length, body, crc, png.subarray(33)]);
    const first = path.join(dir, 'big.png');
    await writeFile(first, bigPng);
    const perClass = 4;
    for (const label of LABELS) {
      await mkdir(path.join(dir, 'data', label, 'camera'), { recursive: true });
      for (let i = 0; i < perClass; i += 1) await link(first, path.join(dir, 'data', label, 'camera', `${i}.png`));
    }
    const script = `
      const { main } = await import(${JSON.stringify(pathToFileURL(CLI).href)});
      let held = null;
      const stderr = { write: (text) => {
        if (text.includes(' ${3 * perClass}/${3 * perClass} images')) {
          // V8 frees dead buffers on a background thread after a GC; the second GC waits for that.
          globalThis.gc(); globalThis.gc();
          held = process.memoryUsage().arrayBuffers;
        }
        process.stderr.write(text);
      } };
      const code = await main(process.argv.slice(1), { stdout: { write: () => true }, stderr });
      process.stdout.write(JSON.stringify({ code, held }));
      process.exit(0);`;
    const output = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script, '--',
      path.join(dir, 'data'), '--out', path.join(dir, 'out'), '--no-baseline', '--folds', 'none'], { cwd: ROOT, encoding: 'utf8' });
    const { code, held } = JSON.parse(output);
    assert.equal(code, 0);
    const thumbs = await readdir(path.join(dir, 'out', 'thumbs'));
    assert.equal(thumbs.length, 2 * perClass, 'every mistake got its thumbnail');
    // Without the fix it held all 8 mistakes (8 x 16 MB); the image being judged may still be held.
    assert.ok(held < 3 * bigPng.length, `${(held / 2 ** 20).toFixed(0)} MB of array buffers held at the end of the run`);
  });
});

describe('evaluate CLI: usage', () => {
  test('missing or bad DATA_DIR and bad options are usage errors (exit 2)', async () => {
    for (const [args, message] of [
      [[], /no DATA_DIR given/],
      [['/nonexistent-illust-data'], /is not a folder/],
      [[ROOT, '--limit-per-source', 'many'], /--limit-per-source must be an integer/],
      [[ROOT, '--bogus'], /Unknown option '--bogus'/],
    ]) {
      const { code, stderr } = await runEvaluate(args);
      assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
      assert.match(stderr, message);
    }
  });
});
