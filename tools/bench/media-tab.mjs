// Media-tab scenario: time from page load until the extension has judged all 60 thumbnails of a
// fixture X media tab (cells carry data-illust-only-state). Runs the unpacked extension from
// build/extension in its own persistent Chromium context.
import { existsSync } from 'node:fs';
import path from 'node:path';

/** Resolves to {allJudgedMs, table:[[measure, value]...]} or {error}. Never throws. */
export async function runMediaTab({ root }) {
  const extensionDir = path.join(root, 'build', 'extension');
  if (!existsSync(path.join(extensionDir, 'manifest.json'))) {
    return { error: 'build/extension/manifest.json not found (run `npm run build` once the extension lands)' };
  }
  return { error: 'media-tab scenario not wired yet' };
}
