// Tests for the benchmark's own helpers (tools/bench/): the statistics every table is built from and
// the seeded image pick that makes runs comparable. The benchmark itself is run by `npm run bench`,
// not by the test suite (it measures, it asserts nothing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { percentile, summarise, ratio } from '../../tools/bench/stats.mjs';
import { selectImages, CLASSES } from '../../tools/bench/images.mjs';
import { NOTES_MARKER, renderReport, withCurrentNotes } from '../../tools/bench/report.mjs';
import { prepareNativeCore } from '../../tools/bench/native/run.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dataDir = process.env.ILLUST_ONLY_DATA ?? path.join(root, '..', 'shared', 'data');
const noData = existsSync(path.join(dataDir, 'manifest.tsv')) ? false : `real images not found at ${dataDir} (set ILLUST_ONLY_DATA)`;

test('percentile is nearest-rank: every figure is a time one image really took', () => {
  const values = [5, 1, 4, 2, 3, 100, 6, 7, 8, 9];
  assert.equal(percentile(values, 50), 5);
  assert.equal(percentile(values, 95), 100);
  assert.equal(percentile(values, 0), 1);
  assert.equal(percentile([3], 95), 3);
  assert.ok(Number.isNaN(percentile([], 50)));
  assert.equal(percentile([2, NaN, 1], 100), 2, 'non-numbers are ignored');
});

test('summarise skips failed rows; ratio guards against missing figures', () => {
  const rows = [{ total: 10 }, { total: 30 }, { total: 20 }, { total: 1000, error: 'corrupt' }];
  assert.deepEqual(summarise(rows, 'total'), { median: 20, p95: 30, n: 3 });
  assert.equal(ratio(30, 10), '3.0x');
  assert.equal(ratio(1, 3, 2), '0.33x');
  assert.equal(ratio(1, 0), '–');
  assert.equal(ratio(NaN, 1), '–');
});

test('the image pick is the same on every run, interleaves the classes and changes with the seed', { skip: noData }, async () => {
  const a = await selectImages({ dataDir, count: 30 });
  const b = await selectImages({ dataDir, count: 30 });
  assert.deepEqual(a, b);
  assert.deepEqual(a.slice(0, 3).map((i) => i.cls), CLASSES);
  for (const cls of CLASSES) assert.equal(a.filter((i) => i.cls === cls).length, 10);
  assert.ok(a.every((i) => existsSync(i.file) && i.file.includes(`${path.sep}${i.cls}${path.sep}`)));
  const prefix = await selectImages({ dataDir, count: 12 });
  assert.deepEqual(prefix, a.slice(0, 12), '--quick runs a prefix of the full pick');
  const other = await selectImages({ dataDir, count: 30, seed: 7 });
  assert.notDeepEqual(other.map((i) => i.file), a.map((i) => i.file));
});

// The bench's "native core" row: its own g++ call left out libwebp once the core decoded WebP, so every
// run said "unavailable". The first build takes a minute or two (CMake, into build/bench/native).
test('the native core bench builds (libwebp included) and decodes like the core: a JPEG judged, a file of no format refused', { skip: noData, timeout: 600_000 }, async () => {
  const [image] = await selectImages({ dataDir, count: 1 });
  const notAnImage = path.join(root, 'package.json');
  const run = await prepareNativeCore({ root, log: () => {} });
  const [jpeg, refused] = await run([image.file, notAnImage], 1);
  assert.equal(jpeg.error, undefined);
  assert.ok(jpeg.total > 0 && jpeg.cpu > 0);
  assert.equal(refused.error, 'unsupported_format');
});

test('a missing data folder is a clear error', async () => {
  await assert.rejects(selectImages({ dataDir: '/nonexistent-illust-data', count: 5 }), /manifest\.tsv not found/);
});

test('--notes-only re-copies the analysis below the marker and leaves the measurements alone', () => {
  const notes = readFileSync(path.join(root, 'tools', 'bench', 'notes.md'), 'utf8').trim();
  const report = `# Benchmarks\n\n| a | b |\n| 1 | 2 |\n\n${NOTES_MARKER}\n## Old analysis\nstale words\n`;
  const updated = withCurrentNotes(report);
  assert.ok(updated.startsWith('# Benchmarks\n\n| a | b |\n| 1 | 2 |\n\n'));
  assert.ok(updated.endsWith(`${NOTES_MARKER}\n${notes}\n`));
  assert.ok(!updated.includes('stale words'));
  assert.equal(withCurrentNotes(updated), updated);
  assert.throws(() => withCurrentNotes('# Benchmarks without a marker\n'), /no analysis marker/);
  // A freshly rendered report carries the marker right before the notes.
  const { markdown } = renderReport({ results: [], environment: { versions: {}, loadBefore: [0], loadAfter: [0], durationS: 1, images: { perClass: {} } }, images: [] });
  assert.ok(markdown.includes(`${NOTES_MARKER}\n${notes}`));
});
