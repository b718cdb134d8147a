// `npm run build`: builds the wasm core, then assembles the demo site and the unpacked extension.
// Each step lives in tools/build/<step>.mjs and exports `default async function build({root, log})`.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const steps = ['wasm', 'demo', 'extension'];
const only = process.argv.slice(2);
const usage = `usage: node tools/build.mjs [${steps.join('|')}]... (no step: all of them, in this order)`;
if (only.includes('-h') || only.includes('--help')) { console.log(usage); process.exit(0); }
// A misspelt step would otherwise build nothing and exit 0, as if it had built.
const unknown = only.filter((name) => !steps.includes(name));
if (unknown.length) { console.error(`build: unknown step ${unknown.join(', ')}\n${usage}`); process.exit(2); }

for (const step of steps) {
  if (only.length && !only.includes(step)) continue;
  const file = path.join(root, 'tools', 'build', `${step}.mjs`);
  if (!existsSync(file)) { console.log(`build: ${step}: no step yet (${path.relative(root, file)})`); continue; }
  const t0 = performance.now();
  const { default: build } = await import(pathToFileURL(file));
  try {
    await build({ root, log: (...a) => console.log(`build: ${step}:`, ...a) });
  } catch (err) {
    // The steps throw plain Errors whose message says what is missing and what to run: that, not a
    // stack trace, is what the user needs. Anything else (a TypeError...) is a bug here: keep its stack.
    // The steps' own messages often start with the step's name already ("wasm: ...").
    const message = err.constructor === Error ? err.message.replace(new RegExp(`^${step}: `), '') : err.stack;
    console.error(`build: ${step}: FAILED: ${message}`);
    process.exit(1);
  }
  console.log(`build: ${step}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
