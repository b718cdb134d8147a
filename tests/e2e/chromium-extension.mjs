// Where the Chromium extension e2e tests find things, and how they build the extension and start
// Debian's Chromium with the unpacked build: one definition for extension.test.mjs,
// extension-corrections.test.mjs and extension-popup.test.mjs, so all test the same build under the
// same flags.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const dataDir = process.env.ILLUST_ONLY_DATA ?? path.join(root, '..', 'shared', 'data');
export const extensionDir = path.join(root, 'build', 'extension');
export const CHROMIUM = '/usr/bin/chromium';
/** Chromium's flags for the tests, with the unpacked extension at `dir` (the build, or a changed copy of it). */
export const chromiumArgs = (dir = extensionDir) => ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', `--disable-extensions-except=${dir}`, `--load-extension=${dir}`];
export const CHROMIUM_ARGS = chromiumArgs();

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
 * leaves it for the caller. `viewport` and `colorScheme` as the page is seen; `unpacked`: another
 * unpacked extension than the build (a changed copy).
 */
export async function launchWithExtension(extraArgs = [], { profileDir = null, viewport = { width: 800, height: 600 }, colorScheme, unpacked = extensionDir } = {}) {
  const { chromium } = await import('playwright-core');
  const profile = profileDir ?? mkdtempSync(path.join(os.tmpdir(), 'illust-only-e2e-'));
  const cleanUp = () => { if (!profileDir) rmSync(profile, { recursive: true, force: true }); };
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, viewport, ...(colorScheme ? { colorScheme } : {}), args: [...chromiumArgs(unpacked), ...extraArgs],
    });
    const worker = context.serviceWorkers()[0] ?? await context.waitForEvent('serviceworker');
    return { context, worker, extensionId: new URL(worker.url()).host, close: async () => { await context.close(); cleanUp(); } };
  } catch (error) {
    await context?.close();
    cleanUp();
    throw error;
  }
}
