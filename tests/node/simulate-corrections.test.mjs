// tools/simulate-corrections.mjs: the measurement on a tiny hand-made data set whose answer is known,
// and its command line. (The real run over ../shared/data is docs/corrections.md's table.)
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { main, mixAccounts, parseSimulateArgs, simulate } from '../../tools/simulate-corrections.mjs';
import { UsageError } from '../../tools/lib/run-cli.mjs';

const contract = JSON.parse(readFileSync(new URL('../../model/contract.json', import.meta.url)));
const PHOTO = { illustration: 0.05, screenshot: 0.05, photo: 0.9 };
const ILLUSTRATION = { illustration: 0.9, screenshot: 0.05, photo: 0.05 };
// One direction per kind of picture, plus an image's own small step aside (none: the centre).
const along = (axis, aside = -1, step = 0.3) => Float32Array.from({ length: 64 }, (_, i) => (i === axis ? 5 : 0) + (i === aside ? step : 0));

test('a painter whose paintings the model calls photos: corrections fix the rest, a cook\'s photos stay photos', () => {
  const images = [];
  // painter: 6 paintings, all judged photo (mistakes), all alike (axis 0); the first (met first, so
  // corrected first) is the centre of the others
  for (let i = 0; i < 6; i += 1) images.push({ rel: `illustration/painter/${i}.jpg`, truth: 'illustration', sourceKey: 'illustration/painter', scores: PHOTO, embedding: along(0, i === 0 ? -1 : 10 + i) });
  // cook: 5 food photos, judged right, on another axis; one of them looks rather like the paintings
  for (let i = 0; i < 5; i += 1) images.push({ rel: `photo/cook/${i}.jpg`, truth: 'photo', sourceKey: 'photo/cook', scores: PHOTO, embedding: i === 0 ? along(0, 30, 2) : along(1, 30 + i) });
  // an artist judged right
  for (let i = 0; i < 4; i += 1) images.push({ rel: `illustration/artist/${i}.jpg`, truth: 'illustration', sourceKey: 'illustration/artist', scores: ILLUSTRATION, embedding: along(2, 40 + i) });
  const { perK } = simulate(images, { contract, ks: [1, 3], gate: 0.999, accountGate: 0.7 });
  const [k1, k3] = perK;
  assert.equal(k1.sources, 1, 'only the painter has mistakes');
  assert.equal(k1.error_reduction, 1, 'one correction fixes the other five paintings');
  assert.equal(k1.accounts[0].errorsBefore, 5);
  assert.equal(k1.worst_other_drop, 0, 'the cook\'s painting-like photo is on another account: untouched');
  assert.equal(k1.other_recall_drop, 0);
  assert.equal(k3.accounts[0].corrections, 3);
  assert.equal(k3.accounts[0].remaining, 3);
});

test('mixed accounts join each non-illustration source to an illustration source', () => {
  const images = ['illustration/a', 'illustration/b', 'photo/c', 'screenshot/d', 'photo/e'].map((sourceKey) => ({ sourceKey }));
  assert.deepEqual(mixAccounts(images, 'illustration').map((i) => i.sourceKey),
    ['illustration/a+', 'illustration/b+', 'illustration/a+', 'illustration/a+', 'illustration/b+']);
});

test('command line: defaults, lists, and usage errors', () => {
  const options = parseSimulateArgs(['../shared/data']);
  assert.deepEqual(options.ks, [1, 3, 5, 10]);
  assert.equal(options.method, 'prototype');
  assert.deepEqual(parseSimulateArgs(['d', '--k', '2,4', '--account-gate', '0.6,0.8']).accountGates, [0.6, 0.8]);
  assert.equal(parseSimulateArgs(['--help']).help, true);
  for (const argv of [[], ['a', 'b'], ['d', '--k', '0'], ['d', '--k', 'x'], ['d', '--gate', '3'], ['d', '--method', 'magic'], ['d', '--lambda', '-1'], ['d', '--bogus']]) {
    assert.throws(() => parseSimulateArgs(argv), UsageError, argv.join(' '));
  }
});

test('a missing or empty data folder and an unreadable corrections file are usage errors (exit 2), as in evaluate', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'simulate-'));
  try {
    mkdirSync(path.join(dir, 'empty', 'illustration', 'a'), { recursive: true });
    writeFileSync(path.join(dir, 'notes.txt'), 'not a folder');
    for (const [argv, message] of [
      [[path.join(dir, 'missing')], /is not a folder \(see --help\)/],
      [[path.join(dir, 'notes.txt')], /is not a folder/],
      [[path.join(dir, 'empty')], /no images found under .*empty\/\{illustration,screenshot,photo\}/],
      [[path.join(dir, 'empty'), '--corrections', path.join(dir, 'no-such.tsv')], /cannot read corrections .*no-such\.tsv/],
    ]) {
      let stderr = '';
      const code = await main(argv, { stdout: { write: () => {} }, stderr: { write: (text) => { stderr += text; } } });
      assert.equal(code, 2, `${argv.join(' ')}: ${stderr}`);
      assert.match(stderr, message);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
