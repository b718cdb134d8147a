// Where the Chromium extension e2e tests find things, and how they build the extension and start
// Debian's Chromium with the unpacked build: one definition for extension.test.mjs,
// extension-corrections.test.mjs and extension-popup.test.mjs, so all test the same build under the
// same flags.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const dataDir = process.env.ILLUST_ONLY_DATA ?? path.join(root, '..', 'shared', 'data');
export const extensionDir = path.join(root, 'build', 'extension');
export const CHROMIUM = '/usr/bin/chromium';
/** Debian's Chromium, quiet and offline, with the unpacked extension in `dir` and no other. */
const chromiumArgs = (dir) => ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', `--disable-extensions-except=${dir}`, `--load-extension=${dir}`];

/**
 * Why the extension's e2e tests cannot run here, or null: the real images, the model and the built core,
 * and Debian's Chromium unless `chromium` is false (a Firefox-only file).
 */
export function extensionTestsMissing({ chromium = true } = {}) {
  if (!existsSync(dataDir)) return `real images not found at ${dataDir} (set ILLUST_ONLY_DATA)`;
  if (chromium && !existsSync(CHROMIUM)) return `${CHROMIUM} not installed (bash tools/setup.sh)`;
  for (const part of ['model/illust-only.onnx', 'model/contract.json', 'build/wasm/illust_core.wasm']) {
    if (!existsSync(path.join(root, part))) return `${part} not built yet (npm run build; the model comes from tools/training/export_onnx.py)`;
  }
  return null;
}

let builtOnce = null;
/** Builds build/extension once per test process. */
export function buildExtensionOnce() {
  builtOnce ??= import(pathToFileURL(path.join(root, 'tools', 'build', 'extension.mjs')).href)
    .then(({ default: build }) => build({ root, log: () => {} }));
  return builtOnce;
}

/**
 * Chromium with the unpacked extension in a fresh profile: {context, worker, extensionId, close()};
 * close() removes the profile. With `profileDir` (a browser restart), that profile is used and close()
 * leaves it for the caller. `viewport` and `colorScheme` as the page is seen; `dir` another unpacked
 * extension than the build (an unzipped store zip). `lang`: the browser's UI language, which the
 * extension's words follow (_locales): English unless asked, whatever this machine's locale, so the
 * tests' English assertions hold everywhere (Chromium's --lang; Playwright's locale for the pages'
 * navigator.language, which chrome.i18n.getUILanguage() reports in Chromium's headless mode).
 */
export async function launchWithExtension(extraArgs = [], { profileDir = null, viewport = { width: 800, height: 600 }, colorScheme, dir = extensionDir, lang = 'en-US' } = {}) {
  const { chromium } = await import('playwright-core');
  const profile = profileDir ?? mkdtempSync(path.join(os.tmpdir(), 'illust-only-e2e-'));
  const cleanUp = () => { if (!profileDir) rmSync(profile, { recursive: true, force: true }); };
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, viewport, ...(colorScheme ? { colorScheme } : {}), locale: lang,
      args: [...chromiumArgs(dir), `--lang=${lang}`, ...extraArgs],
    });
    const worker = context.serviceWorkers()[0] ?? await context.waitForEvent('serviceworker');
    return { context, worker, extensionId: new URL(worker.url()).host, close: async () => { await context.close(); cleanUp(); } };
  } catch (error) {
    await context?.close();
    cleanUp();
    throw error;
  }
}
