// `npm run pack:extension`: builds the unpacked extension (tools/build/extension.mjs) and zips both
// builds: build/illust-only-extension-<version>.zip (Chrome Web Store) and
// build/illust-only-extension-firefox-<version>.zip (addons.mozilla.org, which signs it).
// Refuses to pack an extension that lacks its model or wasm core: such a zip would install and then
// only ever fail open. The zip writer is ours (node:zlib deflate, ~60 lines) so packing needs nothing
// beyond Node; entries are sorted and dated 1980-01-01 so the same tree gives the same bytes.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import buildExtension, { CORE_FILES, MODEL_FILES } from './build/extension.mjs';
import { toolArgsOrExit } from './lib/run-cli.mjs';

const DOS_DATE_1980_01_01 = (0 << 9) | (1 << 5) | 1; // year-1980 | month | day; time 00:00:00

/** Every file under dir, as sorted forward-slash paths relative to dir. */
export function listFiles(dir, prefix = '') {
  const files = [];
  for (const entry of readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) files.push(...listFiles(dir, rel));
    else if (entry.isFile()) files.push(rel);
  }
  return files.sort();
}

/** entries: [{name, data: Buffer}] → a ZIP archive (deflated where that is smaller, else stored). */
export function makeZip(entries) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const { name, data } of entries) {
    if (data.length >= 0xffffffff || offset >= 0xffffffff) throw new Error('makeZip: ZIP64 is not supported (over 4 GB)');
    const nameBytes = Buffer.from(name, 'utf8');
    const deflated = zlib.deflateRawSync(data, { level: 9 });
    const useDeflate = deflated.length < data.length;
    const body = useDeflate ? deflated : data;
    const crc = zlib.crc32(data);
    const withSignature = (header, signature) => {
      header.writeUInt32LE(signature, 0);
      return header;
    };
    const local = withSignature(Buffer.alloc(30), 0x04034b50);
    // Local and central headers share one run of fields (version needed … name length), at 4 and 6.
    const writeEntryFields = (header, at) => {
      header.writeUInt16LE(20, at); // version needed: 2.0
      header.writeUInt16LE(0x0800, at + 2); // UTF-8 names
      header.writeUInt16LE(useDeflate ? 8 : 0, at + 4);
      header.writeUInt16LE(0, at + 6);
      header.writeUInt16LE(DOS_DATE_1980_01_01, at + 8);
      header.writeUInt32LE(crc, at + 10);
      header.writeUInt32LE(body.length, at + 14);
      header.writeUInt32LE(data.length, at + 18);
      header.writeUInt16LE(nameBytes.length, at + 22);
    };
    writeEntryFields(local, 4);
    local.writeUInt16LE(0, 28);
    const central = withSignature(Buffer.alloc(46), 0x02014b50);
    central.writeUInt16LE(0x0314, 4); // made by: Unix, 2.0 (so the mode below counts)
    writeEntryFields(central, 6);
    central.writeUInt32LE(((0o100644 << 16) >>> 0), 38); // regular file, rw-r--r--
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, body);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + body.length;
  }
  const centralBytes = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralBytes.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, centralBytes, end]);
}

/** Zips dir into zipPath; returns {files, bytes}. */
export function zipDirectory(dir, zipPath) {
  const files = listFiles(dir);
  const zip = makeZip(files.map((name) => ({ name, data: readFileSync(path.join(dir, name)) })));
  writeFileSync(zipPath, zip);
  return { files: files.length, bytes: zip.length };
}

async function main() {
  toolArgsOrExit('pack-extension', 'usage: node tools/pack-extension.mjs   (npm run pack:extension)\n' +
    '  builds the extension, then zips build/extension and build/extension-firefox into build/*.zip', {});
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  await buildExtension({ root, log: (...a) => console.log('pack: build:', ...a) });
  for (const [build, suffix] of [['extension', ''], ['extension-firefox', '-firefox']]) {
    const dir = path.join(root, 'build', build);
    // The build above already refused a manifest whose files (its default language's messages among
    // them) it did not produce; the model and the wasm core it only warns about.
    const lacking = [...CORE_FILES.map((n) => `lib/${n}`), ...MODEL_FILES.map((n) => `model/${n}`)]
      .filter((rel) => { try { return !statSync(path.join(dir, rel)).isFile(); } catch { return true; } });
    if (lacking.length) {
      console.error(`pack: refusing to pack an extension without ${lacking.join(', ')}: run \`npm run build\` after the model and wasm core exist`);
      process.exit(1);
    }
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    const zipPath = path.join(root, 'build', `illust-only-extension${suffix}-${manifest.version}.zip`);
    const { files, bytes } = zipDirectory(dir, zipPath);
    console.log(`pack: ${path.relative(root, zipPath)}: ${files} files, ${(bytes / 2 ** 20).toFixed(1)} MB`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
