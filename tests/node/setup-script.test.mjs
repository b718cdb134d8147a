// tools/setup.sh on a scratch copy of the repository: what it does when everything is in place (nothing),
// and when a piece is missing or broken (it names the piece and repairs it, or says what the user must
// do). Commands that would change the machine or reach the network (apt-get, npm, sudo) are stand-ins on
// PATH that record their arguments and fail, so each case stops where the real fetch would start; `id`
// and `dpkg-query` are stand-ins only where the case is a user or a machine this one cannot become.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync,
  symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const LOCK = JSON.stringify({ name: 'scratch', lockfileVersion: 3, packages: { '': {}, 'node_modules/left-pad': { version: '1.3.0' } } });

/** A stand-in that appends `NAME ARGS` (and, for apt-get, the sources it was given) to log, then fails. */
function standIn(name) {
  return `#!/bin/bash
echo "${name} $*" >>"$SETUP_TEST_LOG"
for arg; do [[ $arg == Dir::Etc::SourceParts=* ]] && cat "\${arg#*=}"/* >>"$SETUP_TEST_LOG"; done
exit 100
`;
}

/**
 * An apt-get that succeeds: `update` does nothing, `source libwebp` unpacks what dpkg-source would leave
 * (a libwebp-1.2.4 tree with Debian's CVE patch applied, and the .dsc beside it), once the file
 * $SETUP_TEST_GO exists where that is set (a download the test lets finish).
 */
const FETCHING_APT_GET = `#!/bin/bash
echo "apt-get $*" >>"$SETUP_TEST_LOG"
[[ " $* " == *" source libwebp "* ]] || exit 0
while [[ -n \${SETUP_TEST_GO:-} && ! -e $SETUP_TEST_GO ]]; do sleep 0.05; done
mkdir -p libwebp-1.2.4/src/webp libwebp-1.2.4/debian/patches libwebp-1.2.4/.pc
echo '/* decode.h */' >libwebp-1.2.4/src/webp/decode.h
echo CVE-2023-4863.patch >libwebp-1.2.4/debian/patches/series
echo CVE-2023-4863.patch >libwebp-1.2.4/.pc/applied-patches
touch libwebp_1.2.4-0.2+deb12u1.dsc
`;

/**
 * A scratch repository (tools/setup.sh, a one-package lock file installed in node_modules, a libwebp
 * tree with its stamp and checksums) and a PATH of the machine's commands less `hidden`, with
 * stand-ins for apt-get, npm and sudo and the given `shims` ({name: script}).
 */
function scratch(t, { hidden = [], shims = {} } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'illust-setup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'tools'));
  copyFileSync(path.join(root, 'tools', 'setup.sh'), path.join(dir, 'tools', 'setup.sh'));
  writeFileSync(path.join(dir, 'package-lock.json'), LOCK);
  mkdirSync(path.join(dir, 'node_modules', 'left-pad'), { recursive: true });
  writeFileSync(path.join(dir, 'node_modules', 'left-pad', 'package.json'), '{}');
  writeFileSync(path.join(dir, 'node_modules', '.illust-only-lock'), LOCK);
  const webp = path.join(dir, 'third_party', 'libwebp');
  mkdirSync(path.join(webp, 'src', 'webp'), { recursive: true });
  writeFileSync(path.join(webp, 'src', 'webp', 'decode.h'), '/* decode.h */\n');
  const sums = spawnSync('sha256sum', ['./src/webp/decode.h'], { cwd: webp, encoding: 'utf8' });
  writeFileSync(path.join(webp, '.illust-only-sha256'), sums.stdout);
  writeFileSync(path.join(webp, '.illust-only-source'), 'libwebp_1.2.4-0.2+deb12u1\n');

  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  const taken = new Set(['apt-get', 'npm', 'sudo', ...hidden, ...Object.keys(shims)]);
  for (const from of [path.dirname(process.execPath), ...process.env.PATH.split(':')]) {
    for (const name of existsSync(from) ? readdirSync(from) : []) {
      if (!taken.has(name)) symlinkSync(path.join(from, name), path.join(bin, name));
      taken.add(name);
    }
  }
  const scripts = { 'apt-get': standIn('apt-get'), npm: standIn('npm'), sudo: standIn('sudo'), ...shims };
  for (const name of hidden) delete scripts[name];
  for (const [name, script] of Object.entries(scripts)) {
    writeFileSync(path.join(bin, name), script);
    chmodSync(path.join(bin, name), 0o755);
  }
  const log = path.join(dir, 'calls.log');
  writeFileSync(log, '');
  const runEnv = (env) => ({ ...process.env, PATH: bin, SETUP_TEST_LOG: log, ...env });
  const calls = () => readFileSync(log, 'utf8');
  const run = (env = {}) => {
    const result = spawnSync('bash', [path.join(dir, 'tools', 'setup.sh')], { encoding: 'utf8', env: runEnv(env) });
    return { ...result, calls: calls() };
  };
  /** A run in the background: its output so far, and `done`, its exit status and output. */
  const start = (env = {}) => {
    const child = spawn('bash', [path.join(dir, 'tools', 'setup.sh')], { env: runEnv(env) });
    const running = { stdout: '', stderr: '', exited: false };
    child.stdout.on('data', (chunk) => { running.stdout += chunk; });
    child.stderr.on('data', (chunk) => { running.stderr += chunk; });
    running.done = new Promise((resolve) => child.on('close', (status) => {
      running.exited = true;
      resolve({ status, stdout: running.stdout, stderr: running.stderr });
    }));
    return running;
  };
  return { dir, webp, run, start, calls };
}

/** Resolves once `condition()` holds (checked every 20 ms; the test's timeout bounds the wait). */
async function until(condition) {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
}

test('with everything in place it does nothing and says nothing', (t) => {
  const { run } = scratch(t);
  const result = run();
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout + result.stderr, '');
  assert.equal(result.calls, '');
});

test('a libwebp tree with a file deleted or changed since it was unpacked is fetched again', (t) => {
  for (const damage of ['delete', 'change']) {
    const { webp, run } = scratch(t);
    const header = path.join(webp, 'src', 'webp', 'decode.h');
    if (damage === 'delete') rmSync(header); else writeFileSync(header, '/* edited */\n');
    const result = run();
    assert.match(result.stdout, /third_party\/libwebp has missing or changed files/, damage);
    assert.match(result.calls, /^apt-get .* update/m, damage);
    // The stand-in's failure is a mirror apt cannot reach: said so, and the old tree is left in place.
    assert.equal(result.status, 1, damage);
    assert.match(result.stderr, /setup: apt could not fetch the source index for libwebp \(above\): check the network/, damage);
    assert.ok(existsSync(path.join(webp, '.illust-only-source')), damage);
  }
});

test('a libwebp tree left by an interrupted fetch (no stamp), or without a usable checksum list, is fetched again', (t) => {
  const cases = {
    // The stamp is written last: a fetch stopped while the tree was moved in leaves none.
    'no stamp': [(webp) => rmSync(path.join(webp, '.illust-only-source')), /setup: fetching Debian's libwebp source package/],
    'no checksum list': [(webp) => rmSync(path.join(webp, '.illust-only-sha256')), /has missing or changed files \(or no checksum list\)/],
    'an empty checksum list': [(webp) => writeFileSync(path.join(webp, '.illust-only-sha256'), ''), /has missing or changed files/],
  };
  for (const [name, [damage, said]] of Object.entries(cases)) {
    const { webp, run } = scratch(t);
    damage(webp);
    const result = run();
    assert.match(result.stdout, said, name);
    assert.match(result.calls, /^apt-get .* update/m, name);
  }
});

test('derives the deb-src list from the one-line sources.list of an installed Debian 12', (t) => {
  const { dir, run } = scratch(t);
  rmSync(path.join(dir, 'third_party'), { recursive: true });
  const etc = path.join(dir, 'etc-apt');
  mkdirSync(path.join(etc, 'sources.list.d'), { recursive: true });
  writeFileSync(path.join(etc, 'sources.list'), '# the installer\'s list\ndeb http://deb.example/debian/ bookworm main\n'
    + '# deb-src http://deb.example/debian/ bookworm main\n  deb [arch=amd64] http://deb.example/debian-security bookworm-security main\n');
  const config = path.join(dir, 'apt.conf');
  writeFileSync(config, `Dir::Etc::sourcelist "${etc}/sources.list";\nDir::Etc::sourceparts "${etc}/sources.list.d";\n`);
  const result = run({ APT_CONFIG: config });
  assert.match(result.calls, /^deb-src http:\/\/deb\.example\/debian\/ bookworm main$/m);
  assert.match(result.calls, /^deb-src \[arch=amd64\] http:\/\/deb\.example\/debian-security bookworm-security main$/m);
  assert.doesNotMatch(result.calls, /^deb /m);

  writeFileSync(path.join(etc, 'sources.list'), '# nothing here\n');
  const none = run({ APT_CONFIG: config });
  assert.equal(none.status, 1);
  assert.match(none.stderr, /neither .*debian\.sources nor deb lines in .*sources\.list: cannot derive a deb-src list/);
});

test('a third_party that links to a folder since removed becomes a folder; a file in its place is named and kept', (t) => {
  // Both used to fetch libwebp, then fail with "mkdir: cannot create directory 'third_party': File exists".
  const linked = scratch(t, { shims: { 'apt-get': FETCHING_APT_GET } });
  const thirdParty = path.join(linked.dir, 'third_party');
  rmSync(thirdParty, { recursive: true });
  symlinkSync(path.join(linked.dir, 'removed-checkout', 'third_party'), thirdParty);
  const result = linked.run();
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /setup: third_party was a symlink to \S*removed-checkout\/third_party, which does not exist: replacing it by a folder/);
  assert.ok(lstatSync(thirdParty).isDirectory());
  assert.equal(readFileSync(path.join(linked.webp, '.illust-only-source'), 'utf8'), 'libwebp_1.2.4-0.2+deb12u1\n');
  assert.equal(readFileSync(path.join(linked.webp, 'src', 'webp', 'decode.h'), 'utf8'), '/* decode.h */\n');

  const file = scratch(t, { shims: { 'apt-get': FETCHING_APT_GET } });
  const fileThirdParty = path.join(file.dir, 'third_party');
  rmSync(fileThirdParty, { recursive: true });
  writeFileSync(fileThirdParty, 'notes\n');
  const refused = file.run();
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /setup: third_party is a regular file, not a folder: libwebp goes in third_party\/libwebp\. Move the file away, then run setup again/);
  assert.equal(refused.calls, ''); // said before anything is fetched
  assert.equal(readFileSync(fileThirdParty, 'utf8'), 'notes\n');
});

test('two runs at once (the README\'s two commands in two terminals) fetch libwebp once, into one tree', { timeout: 60_000 }, async (t) => {
  // Both used to fetch it, and the second `mv` could land inside the first's tree (third_party/libwebp/libwebp-1.2.4).
  const { dir, webp, run, start, calls } = scratch(t, { shims: { 'apt-get': FETCHING_APT_GET } });
  rmSync(path.join(dir, 'third_party'), { recursive: true });
  const go = path.join(dir, 'go');
  const fetches = () => calls().match(/^apt-get .* source libwebp$/gm)?.length ?? 0;
  const first = start({ SETUP_TEST_GO: go });
  await until(() => fetches() === 1 || first.exited);
  const second = start({ SETUP_TEST_GO: go });
  // The second run now waits for the first (and says so), starts a fetch of its own, or has stopped.
  await until(() => /waiting for it/.test(second.stdout) || fetches() === 2 || second.exited);
  writeFileSync(go, '');
  const [a, b] = await Promise.all([first.done, second.done]);
  assert.equal(a.status, 0, a.stderr);
  assert.equal(b.status, 0, b.stderr);
  assert.equal(fetches(), 1, calls());
  assert.match(b.stdout, /setup: another setup\.sh is fetching libwebp \(third_party\/\.illust-only-libwebp\.lock\): waiting for it/);
  assert.match(b.stdout, /setup: third_party\/libwebp holds libwebp_1\.2\.4-0\.2\+deb12u1 \(fetched by the other run\)/);
  assert.deepEqual(readdirSync(webp).sort(), ['.illust-only-sha256', '.illust-only-source', '.pc', 'debian', 'src']);
  const after = run();
  assert.equal(after.status, 0, after.stderr);
  assert.equal(after.stdout + after.stderr, '');
});

test('a package folder deleted from node_modules after npm ci is installed again', (t) => {
  const { dir, run } = scratch(t);
  rmSync(path.join(dir, 'node_modules', 'left-pad'), { recursive: true });
  const result = run();
  assert.match(result.stdout, /node_modules lacks packages of package-lock\.json \(1 missing: node_modules\/left-pad\)/);
  assert.match(result.calls, /^npm ci /m);
});

test('a user who is not root, on a machine without sudo, is told what to install and by whom', (t) => {
  const { run } = scratch(t, {
    hidden: ['sudo'],
    shims: {
      id: '#!/bin/sh\necho 1000\n',
      'dpkg-query': '#!/bin/sh\nexit 1\n', // no package installed
    },
  });
  const result = run();
  assert.equal(result.status, 1);
  assert.match(result.stderr, /setup: installing them needs root, and sudo is not installed: run this as root/);
  assert.match(result.stderr, /apt-get install emscripten .*firefox-esr/);
  assert.equal(result.calls, '');
});
