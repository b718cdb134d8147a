// Drives Debian's firefox-esr with the Firefox build of the extension, offline, for the e2e test and
// the media-tab benchmark (puppeteer-core over WebDriver BiDi; no browser is downloaded):
//   const fx = await launchFirefoxWithExtension({ extensionDir, answer });
//   const page = await fx.browser.newPage(); await page.goto('https://x.com/someartist/media');
//   const popup = await fx.openExtensionPage('popup.html');   // full extension APIs, like the popup
//   await fx.allowInPrivateWindows();   // about:addons' "Run in Private Windows: Allow"
//   await fx.reloadAddon();             // the add-on restarts, as after an update
//   launchFirefoxWithExtension({ extensionDir, answer, profileDir })   // a browser restart: the
//                                       // add-on installed in that profile for good, as a user's is
//   fx.tunnelled / fx.refused: the hosts Firefox connected to through us; await fx.close();
// X's hosts are answered by `answer(request, response)`, a local HTTPS server with a throwaway
// self-signed certificate (openssl), reached through an HTTP CONNECT proxy that Firefox is told to use:
// the proxy tunnels x.com, twitter.com and pbs.twimg.com to that server and refuses every other host
// (Mozilla's own services included), so nothing leaves the machine and no port below 1024 is needed.
// Test-only switches, each a Firefox pref or variable:
//   extensions.webextensions.uuids        a fixed moz-extension:// UUID, so pages can be opened by URL
//   MOZ_REMOTE_ALLOW_SYSTEM_ACCESS=1      lets BiDi navigate a tab to a moz-extension:// page
//   extensions.originControls.grantByDefault  false: host permissions start withheld, as for a user who
//                                         unticked them at install (true: granted at install)
//   extensions.webextOptionalPermissionPrompts false: permissions.request() grants without a prompt,
//                                         standing for the user's "Allow"
//   acceptInsecureCerts                   the throwaway certificate is accepted (BiDi session option)
//   xpinstall.signatures.required         false with profileDir: the unsigned add-on installed for good
//                                         (ESR honours it; a user's copy is signed by AMO)
//   intl.locale.requested                 en-US: the browser's language, which the extension's words
//                                         follow, whatever this machine's locale (a test's prefs may
//                                         ask for another: "ja" needs firefox-esr-l10n-ja, from setup.sh;
//                                         one without a language pack falls back to en-US)
import { execFileSync } from 'node:child_process';
import { zipDirectory } from '../pack-extension.mjs';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const FIREFOX = '/usr/bin/firefox-esr';
export const X_HOSTS = ['x.com', 'twitter.com', 'pbs.twimg.com'];
export const FIREFOX_ADDON_UUID = '5f0c1d2e-7a3b-4c6d-9e8f-0a1b2c3d4e5f';

/** Why the Firefox harness cannot run here, or null. */
export function firefoxMissing() {
  if (!existsSync(FIREFOX)) return `${FIREFOX} not installed (bash tools/setup.sh)`;
  try { execFileSync('openssl', ['version'], { stdio: 'ignore' }); } catch { return 'openssl not found (it makes the local HTTPS certificate)'; }
  return null;
}

/**
 * Starts the fake X: an HTTPS server answering `answer` and a CONNECT proxy in front of it.
 * Returns {proxyPort, tunnelled: Set, refused: Set, close()}.
 */
async function startFakeX(answer, dir) {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', '/CN=x.com', '-addext', `subjectAltName=${X_HOSTS.map((h) => `DNS:${h}`).join(',')}`], { stdio: 'ignore' });
  const server = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, answer);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const tunnelled = new Set();
  const refused = new Set();
  const sockets = new Set();
  const proxy = http.createServer((_request, response) => response.writeHead(403).end()); // plain HTTP: refused
  proxy.on('connect', (request, client, head) => {
    const [host, port] = String(request.url).split(':');
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    if (!X_HOSTS.includes(host) || port !== '443') {
      refused.add(host);
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    tunnelled.add(host);
    const upstream = net.connect(server.address().port, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head?.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    proxyPort: proxy.address().port, tunnelled, refused,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections?.();
      server.close();
      proxy.close();
    },
  };
}

/**
 * Firefox (headless, fresh profile) with the extension installed as a temporary add-on, which Firefox
 * uninstalls when it quits (and with it the add-on's IndexedDB).
 * options: {extensionDir, answer(request, response), grantHostPermissions = true, prefs = {}, profileDir}
 * profileDir: a profile that outlives this browser (a restart: launch again with the same folder). The
 * add-on is installed in it for good (a packed .xpi, as a user installs AMO's), unless already there;
 * close() leaves the folder (the caller removes it).
 * Returns {browser, addonId, openExtensionPage(relativeUrl) → Page, tunnelled, refused, close()}.
 */
export async function launchFirefoxWithExtension({ extensionDir, answer, grantHostPermissions = true, prefs = {}, profileDir = null }) {
  const { default: puppeteer } = await import('puppeteer-core');
  const { browser_specific_settings: { gecko: { id: addonId } } } = JSON.parse(readFileSync(path.join(extensionDir, 'manifest.json'), 'utf8'));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'illust-only-firefox-'));
  const installedInProfile = profileDir !== null && existsSync(path.join(profileDir, 'extensions', `${addonId}.xpi`));
  let fakeX = null;
  let browser = null;
  const close = async () => {
    await browser?.close().catch(() => {});
    fakeX?.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    fakeX = await startFakeX(answer, dir);
    browser = await puppeteer.launch({
      browser: 'firefox', executablePath: FIREFOX, headless: true, acceptInsecureCerts: true,
      ...(profileDir ? { userDataDir: profileDir } : {}),
      env: { ...process.env, MOZ_REMOTE_ALLOW_SYSTEM_ACCESS: '1' },
      extraPrefsFirefox: {
        'network.proxy.type': 1, // manual proxy: every host through fakeX's CONNECT proxy
        'network.proxy.ssl': '127.0.0.1',
        'network.proxy.ssl_port': fakeX.proxyPort,
        'network.proxy.http': '127.0.0.1',
        'network.proxy.http_port': fakeX.proxyPort,
        'network.proxy.no_proxies_on': '',
        'network.proxy.allow_hijacking_localhost': true,
        'extensions.webextensions.uuids': JSON.stringify({ [addonId]: FIREFOX_ADDON_UUID }),
        'extensions.originControls.grantByDefault': grantHostPermissions,
        'extensions.webextOptionalPermissionPrompts': false,
        'intl.locale.requested': 'en-US',
        ...(profileDir ? { 'xpinstall.signatures.required': false } : {}),
        ...prefs,
      },
    });
    if (!profileDir) await browser.installExtension(extensionDir);
  } catch (error) {
    await close();
    throw error;
  }
  /**
   * Opens an extension page in a new tab. Puppeteer does not follow a BiDi navigation to a
   * moz-extension:// URL to its end, so ask the document itself until it has loaded (a question
   * asked while the tab switches documents fails: ask again).
   */
  const openExtensionPage = async (relativeUrl) => {
    const page = await browser.newPage();
    page.goto(`moz-extension://${FIREFOX_ADDON_UUID}/${relativeUrl}`).catch(() => {});
    const deadline = Date.now() + 30000;
    for (;;) {
      const loaded = await page.evaluate(() => location.protocol === 'moz-extension:' && document.readyState === 'complete').catch(() => false);
      if (loaded) return page;
      if (Date.now() > deadline) throw new Error(`moz-extension://…/${relativeUrl} did not load within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  /**
   * Runs `task(addonId, ...args)` in about:addons' own (privileged) page, which BiDi can script with
   * MOZ_REMOTE_ALLOW_SYSTEM_ACCESS; task answers 'ok' or why not.
   */
  const inAboutAddons = async (task, what, ...args) => {
    const about = await browser.newPage();
    about.goto('about:addons').catch(() => {}); // BiDi never reports this page's navigation as finished
    const deadline = Date.now() + 30000;
    while (!(await about.evaluate(() => location.href === 'about:addons' && typeof ChromeUtils === 'object').catch(() => false))) {
      if (Date.now() > deadline) throw new Error('about:addons did not load within 30 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const answer = await about.evaluate(task, addonId, ...args);
    await about.close();
    if (answer !== 'ok') throw new Error(`could not ${what}: ${answer}`);
  };
  /**
   * What a user's "Run in Private Windows: Allow" in about:addons does: the add-on gets Firefox's
   * private-browsing permission and restarts with it; resolves once extension pages open again.
   */
  const allowInPrivateWindows = () => inAboutAddons(async (id) => {
    try {
      const { AddonManager } = ChromeUtils.importESModule('resource://gre/modules/AddonManager.sys.mjs');
      const { ExtensionPermissions } = ChromeUtils.importESModule('resource://gre/modules/ExtensionPermissions.sys.mjs');
      await ExtensionPermissions.add(id, { permissions: ['internal:privateBrowsingAllowed'], origins: [] });
      await (await AddonManager.getAddonByID(id)).reload();
      return 'ok';
    } catch (error) {
      return String(error?.message ?? error);
    }
  }, 'allow the add-on in private windows');
  /** The add-on restarts as an update does (about:addons' reload): its content scripts are injected into open X tabs anew. */
  const reloadAddon = () => inAboutAddons(async (id) => {
    try {
      const { AddonManager } = ChromeUtils.importESModule('resource://gre/modules/AddonManager.sys.mjs');
      await (await AddonManager.getAddonByID(id)).reload();
      return 'ok';
    } catch (error) {
      return String(error?.message ?? error);
    }
  }, 'reload the add-on');
  /** about:addons' "Install Add-on From File…" with the packed build, confirmed (a permanent install). */
  const installForGood = async () => {
    const xpi = path.join(dir, `${addonId}.xpi`);
    zipDirectory(extensionDir, xpi);
    await inAboutAddons(async (id, file) => {
      try {
        const { AddonManager } = ChromeUtils.importESModule('resource://gre/modules/AddonManager.sys.mjs');
        const { FileUtils } = ChromeUtils.importESModule('resource://gre/modules/FileUtils.sys.mjs');
        const install = await AddonManager.getInstallForFile(new FileUtils.File(file));
        const addon = await install.install();
        return addon?.id === id ? 'ok' : `installed ${addon?.id} (error ${install.error})`;
      } catch (error) {
        return String(error?.message ?? error);
      }
    }, 'install the add-on in the profile', xpi);
  };
  if (profileDir && !installedInProfile) {
    try { await installForGood(); } catch (error) {
      await close();
      throw error;
    }
  }
  return { browser, addonId, openExtensionPage, allowInPrivateWindows, reloadAddon, tunnelled: fakeX.tunnelled, refused: fakeX.refused, close };
}
