// Where the Chromium extension e2e tests find things, and how they start Debian's Chromium with the
// unpacked build: one definition for extension.test.mjs and extension-corrections.test.mjs, so both
// always test the same build under the same flags.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const dataDir = process.env.ILLUST_ONLY_DATA ?? path.join(root, '..', 'shared', 'data');
export const extensionDir = path.join(root, 'build', 'extension');
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', `--disable-extensions-except=${extensionDir}`, `--load-extension=${extensionDir}`];
