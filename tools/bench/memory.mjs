// Peak memory of what a suite runs, read from Linux's /proc: the resident set (RSS) of the Chromium
// renderer processes this benchmark started (found as descendants of this Node process, so other
// people's browsers on the machine never count), and of this Node process for the native suites.
// RSS includes wasm memories and worker threads, which the JS-heap figure from the DevTools protocol
// does not. Sampled on a timer; a sample is cheap (one small read per process).
import { readFile, readdir } from 'node:fs/promises';

async function readProcFile(pid, name) {
  try { return await readFile(`/proc/${pid}/${name}`, 'utf8'); } catch { return null; }
}

async function rssBytes(pid) {
  const status = await readProcFile(pid, 'status');
  const match = status && /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

/** Pids of all descendants of rootPid, with whether each is a Chromium renderer. */
async function descendants(rootPid) {
  const parents = new Map();
  for (const name of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readProcFile(name, 'stat');
    if (!stat) continue;
    // Field 4 is the parent pid; the command name (field 2) may hold spaces, so split after ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    parents.set(Number(name), ppid);
  }
  const children = new Map();
  for (const [pid, ppid] of parents) {
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(pid);
  }
  const found = [];
  const stack = [...(children.get(rootPid) ?? [])];
  while (stack.length) {
    const pid = stack.pop();
    found.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return found;
}

async function isRenderer(pid) {
  const cmdline = await readProcFile(pid, 'cmdline');
  return Boolean(cmdline && cmdline.includes('--type=renderer') && !cmdline.includes('--extension-process'));
}

/**
 * Starts sampling every intervalMs. stop() resolves to {peakRendererRss, peakNodeRss}: the largest
 * single renderer's RSS seen (a suite runs in one tab = one renderer) and this process's peak RSS.
 * extra: optional async () => number sampled too (e.g. the page's JS heap via CDP), peak in peakExtra.
 */
export function sampleMemory({ intervalMs = 200, extra } = {}) {
  let peakRendererRss = 0;
  let peakNodeRss = 0;
  let peakExtra = 0;
  let running = true;
  let rendererPids = null;
  let rendererScan = 0;
  const sample = async () => {
    peakNodeRss = Math.max(peakNodeRss, process.memoryUsage.rss());
    // The process tree changes rarely during a suite: rescan it every 10th sample only.
    if (!rendererPids || rendererScan++ % 10 === 0) {
      const pids = await descendants(process.pid);
      rendererPids = [];
      for (const pid of pids) if (await isRenderer(pid)) rendererPids.push(pid);
    }
    for (const pid of rendererPids) peakRendererRss = Math.max(peakRendererRss, await rssBytes(pid));
    if (extra) {
      const value = await extra().catch(() => 0);
      peakExtra = Math.max(peakExtra, value || 0);
    }
  };
  const loop = (async () => {
    while (running) {
      await sample();
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
    await sample();
  })();
  return {
    stop: async () => { running = false; await loop; return { peakRendererRss, peakNodeRss, peakExtra }; },
  };
}
