// The browser peer of the media tests (started by tests/support/browser_peer.cpp): one Debian Chromium, driven by
// playwright-core, with one page per SIP user; each page runs sip.js (www/peer.js).
//
// Protocol: JSON lines. stdin carries commands {"id": N, "cmd": "...", "page": "alice", ...arguments}; stdout
// carries replies {"id": N, "ok": true, "result": {...}} / {"id": N, "ok": false, "error": "..."} and events
// {"event": "...", "page": "alice", "t": epoch-ms, ...}. The first line is {"event": "ready"} once Chromium runs.
// Commands run concurrently; a reply may come after later events. Diagnostics go to stderr.
//
// Lifetime: stdin end-of-file, SIGTERM, SIGINT or SIGHUP close every page, Chromium and its temporary profile,
// then exit. Must run on Node 18.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const SETUP_HINT = 'run scripts/browser-setup.sh (npm ci in tests/browser) and install the Debian package chromium';
const executablePath = process.env.WAZO_CHROMIUM || '/usr/bin/chromium';
const verbose = !!process.env.WAZO_BROWSER_VERBOSE;

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const diag = (...a) => process.stderr.write(`[driver ${(performance.now() / 1000).toFixed(3)}] ${a.join(' ')}\n`);

function fail(message) {
  diag(message);
  out({ event: 'fatal', message });
  process.exit(2);
}

if (!fs.existsSync(executablePath)) fail(`Chromium not found at ${executablePath}: ${SETUP_HINT}`);
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  fail(`playwright-core cannot be loaded from ${here}/node_modules (${e.message}): ${SETUP_HINT}`);
}
const sipLib = path.join(here, 'node_modules', 'sip.js', 'lib');
if (!fs.existsSync(path.join(sipLib, 'index.js'))) fail(`sip.js not found in ${sipLib}: ${SETUP_HINT}`);

// ---- the page's files: www/ and sip.js's ES modules, on a loopback port (http://127.0.0.1 is a secure context,
// so getUserMedia works without TLS)
const roots = [
  { prefix: '/sip.js/', dir: sipLib },
  { prefix: '/', dir: path.join(here, 'www') },
];
const types = { '.js': 'text/javascript', '.html': 'text/html', '.map': 'application/json' };
const server = http.createServer((req, res) => {
  const url = decodeURIComponent((req.url || '/').split('?')[0]);
  if (url === '/favicon.ico') {
    res.writeHead(204);
    res.end();
    return;
  }
  const root = roots.find((r) => url.startsWith(r.prefix));
  const rel = url === '/' ? 'index.html' : url.slice(root.prefix.length);
  const file = path.resolve(root.dir, rel);
  if (!file.startsWith(root.dir + path.sep)) {
    res.writeHead(403);
    res.end();
    return;
  }
  fs.readFile(file, (err, body) => {
    if (err) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': types[path.extname(file)] || 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(body);
  });
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const pageUrl = `http://127.0.0.1:${server.address().port}/`;

// ---- Chromium with a fresh profile (launchPersistentContext is how Playwright takes a --user-data-dir)
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wazo-chromium-'));
const tLaunch = performance.now();
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    ignoreHTTPSErrors: true,
    // Our own handlers close the pages first, so that the SIP users unregister.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      '--autoplay-policy=no-user-gesture-required',
      // Without it Chromium gathers no 127.0.0.1 host candidate, and the tests' namespace has only loopback.
      '--allow-loopback-in-peer-connection',
      ...(process.env.WAZO_CHROMIUM_ARGS ? process.env.WAZO_CHROMIUM_ARGS.split(' ').filter(Boolean) : []),
    ],
  });
} catch (e) {
  fs.rmSync(userDataDir, { recursive: true, force: true });
  fail(`Chromium did not start (${executablePath}): ${e.message}`);
}
const launchMs = performance.now() - tLaunch;

const pages = new Map(); // name -> Page
let closing = null;

async function openPage(name, args) {
  if (pages.has(name)) throw new Error(`page ${name} is already open`);
  const page = await context.newPage();
  pages.set(name, page);
  page.on('console', (m) => {
    if (verbose || m.type() === 'error' || m.type() === 'warning') diag(`${name} console.${m.type()}:`, m.text().slice(0, 500));
  });
  page.on('pageerror', (e) => diag(`${name} page error:`, e.message));
  page.on('crash', () => out({ event: 'page_crashed', page: name }));
  try {
    await page.exposeFunction('wazoEmit', (e) => out({ ...e, page: name }));
    await page.goto(pageUrl);
    await page.waitForFunction(() => window.peerReady === true, null, { timeout: 10000 });
    const result = await page.evaluate((o) => window.peer.start(o), args);
    if (args.register !== false) await page.evaluate(() => window.peer.register());
    return result;
  } catch (e) {
    pages.delete(name);
    await page.close().catch(() => {});
    throw e;
  }
}

async function closePage(name) {
  const page = pages.get(name);
  if (!page) return;
  pages.delete(name);
  await Promise.race([page.evaluate(() => window.peer.stop()).catch(() => {}), new Promise((r) => setTimeout(r, 3000))]);
  await page.close().catch(() => {});
}

// Commands that map to window.peer methods.
const pageMethods = {
  register: 'register',
  unregister: 'unregister',
  set_auto_answer: 'setAutoAnswer',
  call: 'call',
  answer: 'answer',
  reject: 'reject',
  hangup: 'hangup',
  hold: 'hold',
  ice_restart: 'iceRestart',
  dtmf: 'dtmf',
  message: 'message',
  refer: 'refer',
  stats: 'stats',
  sdp: 'sdp',
  calls: 'calls',
};

async function run(cmd) {
  const { id, cmd: name, page: pageName, ...args } = cmd;
  switch (name) {
    case 'ping':
      return { chromium: context.browser()?.version() ?? null, launch_ms: launchMs, pages: [...pages.keys()] };
    case 'open':
      return openPage(pageName, args);
    case 'close':
      await closePage(pageName);
      return {};
    case 'quit':
      setImmediate(shutdown);
      return {};
    default: {
      const method = pageMethods[name];
      if (!method) throw new Error(`unknown command ${name}`);
      const page = pages.get(pageName);
      if (!page) throw new Error(`no page ${pageName}: open it first`);
      return page.evaluate(([m, a]) => window.peer[m](a), [method, args]);
    }
  }
}

async function shutdown() {
  if (closing) return closing;
  closing = (async () => {
    // Whatever happens below, do not outlive a stuck close (Playwright's exit hook then kills Chromium).
    setTimeout(() => process.exit(3), 8000).unref();
    await Promise.all([...pages.keys()].map((n) => closePage(n)));
    await context.close().catch((e) => diag('closing Chromium:', e.message));
    server.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
    process.exit(0);
  })();
  return closing;
}

for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => shutdown());

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    out({ event: 'bad_command', message: e.message });
    return;
  }
  if (closing && cmd.cmd !== 'quit') {
    out({ id: cmd.id, ok: false, error: 'the driver is shutting down' });
    return;
  }
  run(cmd).then(
    (result) => out({ id: cmd.id, ok: true, result: result ?? {} }),
    (e) => out({ id: cmd.id, ok: false, error: String(e?.message || e).split('\n')[0] }),
  );
});
lines.on('close', () => shutdown());

// `profile` lets the parent remove the profile should this process be killed before it can.
out({ event: 'ready', launch_ms: launchMs, chromium: context.browser()?.version() ?? null, url: pageUrl, profile: userDataDir });
