// `npm run bench`: how fast is bytes → verdict, and where does the time go? Runs the same seeded set of
// real images (ILLUST_ONLY_DATA) through our pipeline and through the alternatives, side by side in one
// headless Chromium session, plus the native limit in Node, and prints median / p95 per image split
// into decode+preprocess and inference, start-up times, peak memory and ratios. With --out it writes
// the same tables to a Markdown file (docs/benchmarks.md is regenerated this way). Not a test: it
// asserts nothing, it measures. See docs/benchmarks.md for what each row means.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { selectImages } from './bench/images.mjs';
import { startBenchServer } from './bench/server.mjs';
import { nativeCoreRunner, nodeOrtRunner } from './bench/native.mjs';
import { runMediaTab } from './bench/media-tab.mjs';
import { mediaTabMarkdown, renderReport, withCurrentNotes, withMediaTabSection } from './bench/report.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // Without these a hidden or occluded tab gets throttled timers, which would slow the suites down.
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows',
  // Lets performance.measureUserAgentSpecificMemory answer at once instead of at the next GC.
  '--enable-blink-features=ForceEagerMeasureMemory'];

const USAGE = `usage: npm run bench -- [--images 200] [--quick] [--out docs/benchmarks.md] [options]
Benchmarks bytes → verdict on real images in headless Chromium (our wasm core + ONNX Runtime Web,
nsfwjs 4.4.0, the browser's own decode path) and in Node (onnxruntime-node, the native core).
  --images N      images to run (default 200; a fixed, seeded, class-interleaved pick)
  --quick         smoke check: 12 images, 1 warm-up run, no webgl, no levers
  --out FILE      also write the report as Markdown (e.g. docs/benchmarks.md)
  --notes-only FILE  measure nothing: re-copy tools/bench/notes.md into the report FILE
  --suites LIST   comma-separated subset of: core-decode,browser-decode,webp,ours,levers,nsfwjs,native,media-tab
  --model FILE    ONNX model to run in our pipeline (default model/illust-only.onnx)
  --warmup N      warm-up images per suite, not counted (default 3)
  --repeat R      run each image R times back to back and keep its fastest run (default 1); on a
                  busy shared machine R=3 filters out moments another process had the CPU
  --seed N        image pick seed (default 20261126)
  --media-tab-runs N  runs of each media-tab scenario (default 3); \`--suites media-tab --out FILE\`
                  measures only the media tab and replaces only that section of FILE
  --extension DIR the unpacked extension the media tab loads (default build/extension; e.g. an
                  earlier build kept for a before/after comparison)
  --data DIR      image data (default $ILLUST_ONLY_DATA or ../shared/data)`;

function parseArgs(argv) {
  const options = { images: 200, quick: false, out: null, suites: null, model: null, warmup: 3, repeat: 1, seed: 20261126,
    data: process.env.ILLUST_ONLY_DATA || path.resolve(ROOT, '..', 'shared', 'data') };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const int = (min) => {
      const v = Number(value());
      if (!Number.isInteger(v) || v < min) throw new Error(`${flag} needs an integer >= ${min}`);
      return v;
    };
    if (flag === '--help' || flag === '-h') options.help = true;
    else if (flag === '--quick') options.quick = true;
    else if (flag === '--images') options.images = int(1);
    else if (flag === '--warmup') options.warmup = int(0);
    else if (flag === '--repeat') options.repeat = int(1);
    else if (flag === '--seed') options.seed = int(0);
    else if (flag === '--media-tab-runs') options.mediaTabRuns = int(1);
    else if (flag === '--extension') options.extension = path.resolve(value());
    else if (flag === '--out') options.out = path.resolve(value());
    else if (flag === '--notes-only') options.notesOnly = path.resolve(value());
    else if (flag === '--model') options.model = path.resolve(value());
    else if (flag === '--data') options.data = path.resolve(value());
    else if (flag === '--suites') options.suites = value().split(',').map((s) => s.trim()).filter(Boolean);
    else throw new Error(`unknown argument: ${arg}`);
  }
  const SUITE_GROUPS = ['core-decode', 'browser-decode', 'webp', 'ours', 'levers', 'nsfwjs', 'native', 'media-tab'];
  const unknown = (options.suites ?? []).filter((g) => !SUITE_GROUPS.includes(g));
  if (unknown.length) throw new Error(`unknown suite ${unknown.join(', ')} (known: ${SUITE_GROUPS.join(', ')})`);
  if (options.quick) {
    if (!argv.some((a) => a.startsWith('--images'))) options.images = 12;
    if (!argv.some((a) => a.startsWith('--warmup'))) options.warmup = 1;
  }
  return options;
}

/** The browser suites, in the order they run; `group` picks them with --suites. */
function browserSuites(options) {
  const list = [
    { group: 'core-decode', suite: 'core-decode', title: 'wasm core: decode + preprocess', options: {} },
    { group: 'browser-decode', suite: 'browser-decode', title: 'browser: createImageBitmap + canvas + JS loop', options: {} },
    // WebP (issue 23): the same images re-encoded by PIL (libwebp, quality 80, as X serves `small`
    // thumbnails), decoded by the core's libwebp and by the browser.
    { group: 'webp', suite: 'core-decode', title: 'wasm core: decode + preprocess, the same images as WebP', options: { imageSet: 'webp' } },
    { group: 'webp', suite: 'browser-decode', title: 'browser: createImageBitmap + canvas + JS loop, the same images as WebP', options: { imageSet: 'webp' } },
    { group: 'ours', suite: 'ours', title: 'ours: wasm core + ORT-web wasm, 1 thread', options: { threads: 1 } },
    { group: 'ours', suite: 'ours', title: 'ours: wasm core + ORT-web wasm, 2 threads', options: { threads: 2 } },
    // Levers for our pipeline: ORT session options passed through classifier.js's sessionOptions.
    // The export names the dynamic batch axis "N" (tools/training/export_onnx.py); fixing it lets ORT plan
    // shapes and memory once.
    ...[1, 2].map((threads) => ({ group: 'levers', suite: 'ours', title: `lever: ours + freeDimensionOverrides {N: 1}, ${threads} thread${threads > 1 ? 's' : ''}`,
      options: { threads, sessionOptions: { freeDimensionOverrides: { N: 1 } } } })),
    { group: 'levers', suite: 'ours', title: 'lever: ours + enableCpuMemArena false, 1 thread', options: { threads: 1, sessionOptions: { enableCpuMemArena: false } } },
    { group: 'levers', suite: 'ours', title: 'lever: ours + no thread spinning, 2 threads',
      options: { threads: 2, sessionOptions: { extra: { session: { 'intra_op.allow_spinning': '0' } } } } },
    ...[1, 2].map((threads) => ({ group: 'levers', suite: 'ours-batch', title: `lever: ours, 5 queued images per session.run, ${threads} thread${threads > 1 ? 's' : ''}`,
      options: { threads, batch: 5 } })),
    // A cheaper network: the same model quantised to int8 (QDQ, built by tools/training/quantize_onnx.py at start).
    { group: 'levers', suite: 'ours', title: 'lever: ours with the int8 model (tools/training/quantize_onnx.py), 1 thread', options: { threads: 1, modelUrl: INT8_MODEL_URL } },
    ...[1, 2].map((threads) => ({ group: 'levers', suite: 'ours-pipelined', title: `lever: ours, next image decoded in a worker during inference, ${threads} thread${threads > 1 ? 's' : ''}`,
      options: { threads } })),
    // The extension's pool: two 1-thread workers use the same two cores as one 2-thread session.
    { group: 'levers', suite: 'ours-pool', title: "lever: ours, 2 workers × 1 thread (the extension's pool), a stream of images", options: { workers: 2, threads: 1 },
      baseId: 'ours:{"threads":2}' },
    { group: 'nsfwjs', suite: 'nsfwjs', title: 'nsfwjs 4.4.0: tfjs wasm, 1 thread', options: { backend: 'wasm', threads: 1 } },
    { group: 'nsfwjs', suite: 'nsfwjs', title: 'nsfwjs 4.4.0: tfjs wasm, 2 threads', options: { backend: 'wasm', threads: 2 } },
  ];
  if (!options.quick) list.push({ group: 'nsfwjs', suite: 'nsfwjs', title: 'nsfwjs 4.4.0: tfjs webgl (software GL, first 20 images)', options: { backend: 'webgl', maxImages: 20 } });
  for (const entry of list) entry.id = `${entry.suite}:${JSON.stringify(entry.options)}`;
  // Levers run in full runs and when asked for; a --quick smoke check skips them.
  return list.filter((s) => (options.suites ? options.suites.includes(s.group) : !(options.quick && s.group === 'levers')));
}

const CHUNK = 10; // images per turn when interleaving suites
const INT8_MODEL_URL = '/bench-model-int8.onnx';

/** Quantises the model for the int8 lever; returns the file, or null (the lever rows then say why). */
function buildInt8Model({ modelFile, dataDir, log }) {
  const out = path.join(os.tmpdir(), `illust-bench-int8-${process.pid}.onnx`);
  log('levers: quantising the model to int8 (tools/training/quantize_onnx.py) ...');
  try {
    execFileSync('/usr/bin/python3', [path.join(ROOT, 'tools', 'training', 'quantize_onnx.py'), '--model', modelFile, '--out', out, '--data', dataDir],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    return out;
  } catch (error) {
    log(`  int8 model unavailable: ${String(error.stderr ?? error.message).trim().split('\n').pop()}`);
    return null;
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([promise, new Promise((resolve) => {
    timer = setTimeout(() => resolve({ error: `${what} timed out after ${Math.round(ms / 1000)} s` }), ms);
  })]).finally(() => clearTimeout(timer));
}

/** A browser suite in its own tab: setup, chunk, finish (see tools/bench/harness.mjs). */
function browserRunner(context, baseUrl, entry) {
  let page;
  let cdp;
  let jsHeap = 0;
  let uaMemory = 0;
  let cpuSeconds = 0;
  let cpuImages = 0;
  const pageErrors = [];
  // ProcessTime: CPU seconds used by the tab's renderer process, all its threads (ORT's and tfjs's
  // wasm threads included), 10 ms granularity; unlike wall time it barely moves with other load.
  const metrics = async () => {
    const { metrics: list } = await cdp.send('Performance.getMetrics').catch(() => ({ metrics: [] }));
    const value = (name) => list.find((m) => m.name === name)?.value ?? NaN;
    jsHeap = Math.max(jsHeap, value('JSHeapUsedSize') || 0);
    return value('ProcessTime');
  };
  const withErrors = (result) => (result?.error && pageErrors.length ? { ...result, error: `${result.error} (page errors: ${pageErrors.join('; ')})` } : result);
  return {
    ...entry, where: 'chromium',
    async setup({ count, warmup, modelUrl }) {
      try {
        page = await context.newPage();
        page.on('pageerror', (error) => pageErrors.push(String(error)));
        cdp = await context.newCDPSession(page);
        await cdp.send('Performance.enable');
        await page.goto(`${baseUrl}tools/bench/harness.html`);
        await page.waitForFunction(() => window.harnessReady === true, null, { timeout: 30000 });
        const result = await withTimeout(page.evaluate(([suite, opts]) => window.setupSuite(suite, opts),
          [entry.suite, { count, warmup, modelUrl, ...entry.options }]), 180000, 'setup');
        uaMemory = Math.max(uaMemory, result.memoryBytes || 0);
        await metrics();
        return withErrors(result);
      } catch (error) {
        return withErrors({ error: String(error?.message ?? error) });
      }
    },
    async chunk(start, end, repeat) {
      const cpuBefore = await metrics();
      const result = await withTimeout(page.evaluate(([a, b, r]) => window.runChunk(a, b, r), [start, end, repeat]).catch((error) => ({ error: String(error?.message ?? error) })),
        60000 + (end - start) * repeat * 5000, `images ${start}-${end}`);
      const cpuAfter = await metrics();
      if (Array.isArray(result) && Number.isFinite(cpuAfter - cpuBefore)) {
        cpuSeconds += cpuAfter - cpuBefore;
        cpuImages += result.length * repeat;
      }
      return withErrors(result);
    },
    async finish() {
      const bytes = await withTimeout(page.evaluate(() => window.measureMemory()), 30000, 'memory').catch(() => NaN);
      if (Number.isFinite(bytes)) uaMemory = Math.max(uaMemory, bytes);
      await page.close().catch(() => {});
      return { uaMemory, jsHeap, cpuMsPerImage: cpuImages ? (cpuSeconds * 1000) / cpuImages : NaN };
    },
  };
}

/**
 * Sets every runner up in turn (start-up is measured alone), then runs them interleaved CHUNK images
 * at a time, rotating the order, so background load on this shared machine hits all suites alike
 * instead of whichever ran when someone else's job started. Returns one result per runner.
 */
async function runInterleaved(runners, { images, warmup, repeat, modelUrl, log }) {
  const count = images.length;
  const live = [];
  const results = new Map();
  for (const runner of runners) {
    log(`set up: ${runner.title} ...`);
    const setup = await runner.setup({ images, count, warmup, modelUrl });
    if (setup.error) {
      log(`  unavailable: ${setup.error.split('\n')[0].slice(0, 300)}`);
      results.set(runner, { error: setup.error });
      await runner.finish().catch(() => {});
      continue;
    }
    log(`  ready (start-up ${Number.isFinite(setup.startupMs) ? setup.startupMs.toFixed(0) + ' ms' : 'n/a'}, ${setup.count} images)`);
    results.set(runner, { ...setup, rows: [] });
    live.push(runner);
  }
  for (let start = 0, turn = 0; start < count; start += CHUNK, turn++) {
    const order = live.map((_, i) => live[(i + turn) % live.length]);
    for (const runner of order) {
      const result = results.get(runner);
      if (result.error || start >= result.count) continue;
      const rows = await runner.chunk(start, start + CHUNK, repeat);
      if (rows.error) {
        log(`  ${runner.title}: failed at images ${start}-${start + CHUNK}: ${rows.error.split('\n')[0]}`);
        result.error = rows.error;
        continue;
      }
      result.rows.push(...rows);
    }
    process.stdout.write(`\rbench: measured ${Math.min(count, start + CHUNK)}/${count} images on ${live.length} suites`);
  }
  process.stdout.write('\n');
  for (const runner of live) results.get(runner).memory = await runner.finish().catch(() => ({}));
  return runners.map((runner) => ({ id: runner.id, group: runner.group, suite: runner.suite, title: runner.title, baseId: runner.baseId,
    where: runner.where, options: runner.options, ...results.get(runner) }));
}

/** The selected images re-encoded as WebP (PIL, quality 80) into a temporary folder, for the webp suites. */
async function encodeWebp({ images, log }) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'illust-bench-webp-'));
  log(`webp: re-encoding ${images.length} images as WebP (PIL, quality 80) ...`);
  const script = 'import sys\nfrom PIL import Image\nout = sys.argv[1]\n' +
    'for i, f in enumerate(sys.argv[2:]):\n    Image.open(f).save(f"{out}/{i}.webp", quality=80)\n';
  execFileSync('/usr/bin/python3', ['-c', script, dir, ...images.map((i) => i.file)], { stdio: ['ignore', 'ignore', 'inherit'] });
  return dir;
}

function gitCommit() {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).trim();
    return dirty ? `${sha} (with uncommitted changes)` : sha;
  } catch { return 'unknown'; }
}

async function packageVersion(name) {
  try { return JSON.parse(await readFile(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version; } catch { return 'not installed'; }
}

/** `--suites media-tab` alone: only the extension's media-tab scenarios; --out replaces only their section. */
async function mediaTabOnly(options) {
  const log = (...a) => console.log('bench:', ...a);
  log(`media tab: ${options.mediaTabRuns ?? 'default'} runs of each scenario, user-like Chromium flags`);
  const mediaTab = await runMediaTab({ root: ROOT, dataDir: options.data, seed: options.seed, runs: options.mediaTabRuns, extensionDir: options.extension, log });
  if (mediaTab.error) {
    console.error(`bench: media tab: ${mediaTab.error}`);
    process.exit(1);
  }
  const body = `Measured ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} at commit ${gitCommit()}, load average before ${os.loadavg()[0].toFixed(2)} ` +
    `(\`node tools/bench.mjs --suites media-tab${options.mediaTabRuns ? ` --media-tab-runs ${options.mediaTabRuns}` : ''}\`).\n\n${mediaTabMarkdown(mediaTab)}`;
  console.log(`\n${body}`);
  if (options.out) {
    await writeFile(options.out, withMediaTabSection(await readFile(options.out, 'utf8'), body));
    log(`replaced the media-tab section of ${path.relative(process.cwd(), options.out)}`);
  }
}

async function main() {
  let options;
  try { options = parseArgs(process.argv.slice(2)); } catch (error) {
    console.error(`bench: ${error.message}\n${USAGE}`);
    process.exit(2);
  }
  if (options.help) { console.log(USAGE); return; }
  if (options.notesOnly) {
    try {
      await writeFile(options.notesOnly, withCurrentNotes(await readFile(options.notesOnly, 'utf8')));
    } catch (error) {
      console.error(`bench: --notes-only ${path.relative(process.cwd(), options.notesOnly)}: ${error.message}`);
      process.exit(1);
    }
    console.log(`bench: re-copied tools/bench/notes.md into ${path.relative(process.cwd(), options.notesOnly)}`);
    return;
  }

  if (options.suites?.length === 1 && options.suites[0] === 'media-tab') {
    await mediaTabOnly(options);
    return;
  }

  let images;
  try {
    images = await selectImages({ dataDir: options.data, count: options.images, seed: options.seed });
  } catch (error) {
    console.error(`bench: ${error.message}`);
    process.exit(1);
  }
  const count = images.length;
  const log = (...a) => console.log('bench:', ...a);
  log(`${count} images from ${options.data} (seed ${options.seed}), ${options.warmup} warm-up per suite`);

  const modelFile = options.model ?? path.join(ROOT, 'model', 'illust-only.onnx');
  const modelUrl = '/bench-model.onnx';
  const files = existsSync(modelFile) ? { [modelUrl]: modelFile } : {};
  if (!existsSync(modelFile)) log(`NOTE model not found: ${modelFile}; our pipeline cannot run`);

  const leversWanted = browserSuites(options).some((s) => s.group === 'levers');
  const int8File = leversWanted && existsSync(modelFile) ? buildInt8Model({ modelFile, dataDir: options.data, log }) : null;
  if (int8File) files[INT8_MODEL_URL] = int8File;

  const webpDir = browserSuites(options).some((s) => s.group === 'webp') ? await encodeWebp({ images, log }) : null;
  if (webpDir) images.forEach((_, i) => { files[`/bench-webp/${i}`] = path.join(webpDir, `${i}.webp`); });

  const server = await startBenchServer({ root: ROOT, images: images.map((i) => i.file), files });
  const { chromium } = await import('playwright-core');
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'illust-bench-'));
  const loadBefore = os.loadavg();
  let results = [];
  const startedAt = new Date();
  let browserVersion = 'unknown';
  const wanted = (group) => !options.suites || options.suites.includes(group);
  let context;
  try {
    try {
      context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    } catch (error) {
      throw new Error(`cannot start Chromium (${CHROMIUM}; bash tools/setup.sh installs it): ${String(error?.message ?? error).split('\n')[0]}`);
    }
    browserVersion = context.browser()?.version() ?? 'unknown';
    const runners = browserSuites(options).map((entry) => browserRunner(context, server.url, entry));
    if (wanted('native')) {
      runners.push(nodeOrtRunner({ root: ROOT, threads: 1, modelFile }), nodeOrtRunner({ root: ROOT, threads: 2, modelFile }),
        nativeCoreRunner({ root: ROOT, log }));
    }
    if (int8File) runners.push(nodeOrtRunner({ root: ROOT, threads: 1, modelFile: int8File, variant: 'int8' }));
    results = await runInterleaved(runners, { images, warmup: options.warmup, repeat: options.repeat, modelUrl, log });
    await context.close();
    context = null;
    if (wanted('media-tab')) {
      log('media tab: 60 thumbnails judged by the extension ...');
      // With the flags a user's browser has (CHROMIUM_ARGS turn timer throttling off for the suites above).
      const mediaTab = await runMediaTab({ root: ROOT, dataDir: options.data, seed: options.seed, runs: options.mediaTabRuns, extensionDir: options.extension, log });
      if (mediaTab.error) log(`  unavailable: ${mediaTab.error}`);
      results.push({ id: 'media-tab', group: 'media-tab', title: 'media tab: 60 thumbnails judged', ...mediaTab });
    }
  } finally {
    await context?.close().catch(() => {});
    await server.close();
    await rm(userDataDir, { recursive: true, force: true });
    if (int8File) await rm(int8File, { force: true });
    if (webpDir) await rm(webpDir, { recursive: true, force: true });
  }

  const environment = {
    date: startedAt.toISOString().replace(/\.\d+Z$/, 'Z'),
    durationS: (Date.now() - startedAt.getTime()) / 1000,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memory: os.totalmem(),
    os: `${os.type()} ${os.release()}`,
    loadBefore, loadAfter: os.loadavg(),
    node: process.version,
    chromium: browserVersion,
    versions: {
      'onnxruntime-web': await packageVersion('onnxruntime-web'),
      'onnxruntime-node': await packageVersion('onnxruntime-node'),
      '@tensorflow/tfjs': await packageVersion('@tensorflow/tfjs'),
      '@tensorflow/tfjs-backend-wasm': await packageVersion('@tensorflow/tfjs-backend-wasm'),
      nsfwjs: await packageVersion('nsfwjs'),
    },
    commit: gitCommit(),
    command: `node tools/bench.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    images: { count, seed: options.seed, warmup: options.warmup, repeat: options.repeat,
      perClass: images.reduce((acc, i) => ({ ...acc, [i.cls]: (acc[i.cls] ?? 0) + 1 }), {}) },
    model: path.relative(ROOT, modelFile) || modelFile,
  };
  const { text, markdown } = renderReport({ results, environment, images });
  console.log('\n' + text);
  if (options.out) {
    await writeFile(options.out, markdown);
    log(`wrote ${path.relative(process.cwd(), options.out)}`);
  }
}

try {
  await main();
} catch (error) {
  console.error(`bench: ${error?.message ?? error}`);
  process.exit(1);
}
