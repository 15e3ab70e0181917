// What the end-to-end tests share: starting programs in their own process group (so their
// children die with them), headless Chromium, waiting for ports, posting readings like a
// device, and virtual serial boards (one prints markup).

import { spawn } from 'node:child_process';
import { lstatSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Session } from './webdriver.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const TARGET = process.env.CARGO_TARGET_DIR ? path.resolve(process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target');

/** The hostile sensor name: it must show as these characters, never become an element. */
export const HOSTILE = '<img src=x onerror=alert(1)>';

/** What the hostile serial board prints: each must show as these characters in the ports panel. */
export const HOSTILE_LINES = [
  '<img src=x onerror="window.__pwned=1">',
  '<script>window.__pwned=2</script>',
  '"><svg onload=window.__pwned=3>',
];

/**
 * Starts e2e/hostile-board.py: a pseudo-terminal at `link` printing HOSTILE_LINES every 200 ms.
 * Resolves once `link` exists; `stop()` ends it and removes the link.
 */
export function startHostileBoard(link) {
  return startBoard('python3', [path.join(ROOT, 'e2e', 'hostile-board.py'), link, ...HOSTILE_LINES], link);
}

/** Starts a virtual board (`cmd args`) that makes `link`; resolves once `link` exists. */
export async function startBoard(cmd, args, link, ms = 10_000) {
  const board = start(cmd, args);
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      lstatSync(link);
      return board;
    } catch {
      // Not there yet.
    }
    if (Date.now() > deadline || board.child.exitCode !== null) {
      await board.stop();
      throw new Error(`the board did not create ${link}: ${board.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts chromedriver on `driverPort` and a headless Chromium session with its profile in
 * `dir`, in English whatever the machine's language (the tests read the page's English text);
 * `args` and `prefs` are added to the browser's. Returns both; quit the session, then stop the
 * driver.
 */
export async function startChromium(dir, driverPort, { args = [], prefs = {} } = {}) {
  const driver = start(process.env.CHROMEDRIVER || '/usr/bin/chromedriver', [
    `--port=${driverPort}`,
    ...(process.env.E2E_DRIVER_LOG ? ['--verbose', `--log-path=${process.env.E2E_DRIVER_LOG}`] : []),
  ]);
  await waitForPort(driverPort);
  const session = await chromiumSession(driverPort, path.join(dir, 'profile'), {
    args: ['--lang=en-US', '--accept-lang=en-US', ...args],
    prefs: { 'intl.accept_languages': 'en-US', ...prefs },
  });
  return { driver, session };
}

/** A new headless Chromium session through the chromedriver on `driverPort`, with its own profile. */
export function chromiumSession(driverPort, profile, { args = [], prefs } = {}) {
  return Session.create(`http://127.0.0.1:${driverPort}`, {
    browserName: 'chrome',
    'goog:chromeOptions': {
      binary: process.env.CHROMIUM || '/usr/bin/chromium',
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
        '--no-first-run', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
        `--user-data-dir=${profile}`, ...args,
      ],
      ...(prefs ? { prefs } : {}),
    },
  });
}

/** The status of `GET /api/v1/sensors` sent with `token`: 200, or 401 for a refused token. */
export async function statusWithToken(port, token) {
  const response = await fetch(`http://127.0.0.1:${port}/api/v1/sensors`, { headers: { Authorization: `Bearer ${token}` } });
  await response.arrayBuffer();
  return response.status;
}

export function tempDir(prefix) {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { path: dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * The environment for a desktop app under test, with its own data, cache and config folders in
 * `dir`. WebKitGTK keeps the page's localStorage (compared sensors, ranges, unit, language) in
 * the data folder, by default the user's and shared by every run: one run's choices were the
 * next run's starting state (a Compare toggle left on was switched off by the next run's click).
 */
export function appEnv(dir, env = process.env) {
  return {
    ...env,
    XDG_DATA_HOME: path.join(dir, 'data'),
    XDG_CACHE_HOME: path.join(dir, 'cache'),
    XDG_CONFIG_HOME: path.join(dir, 'config'),
  };
}

/** Starts `cmd` as a process-group leader; `stop()` ends the whole group. */
export function start(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    exited,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        return;
      }
      const done = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 5000))]);
      if (!done) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    },
  };
}

function tryConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function waitForPort(port, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await tryConnect(port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
}

/**
 * Waits for tauri-driver on `port` and for the WebKitWebDriver it starts on `nativePort`
 * (`--native-port`, by default the next port): tauri-driver answers first, and a session asked
 * for before WebKitWebDriver answers is refused ("tcp connect error").
 */
export async function waitForTauriDriver(port, nativePort = port + 1) {
  await waitForPort(port);
  await waitForPort(nativePort);
}

export async function waitForPortClosed(port, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!(await tryConnect(port))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`127.0.0.1:${port} still accepts connections after ${ms} ms`);
}

/** Posts readings as a device would; returns the parsed reply. */
export async function post(port, token, readings) {
  const response = await fetch(`http://127.0.0.1:${port}/api/v1/readings`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify(readings),
  });
  const body = await response.json();
  if (response.status !== 201) throw new Error(`POST readings answered ${response.status}: ${JSON.stringify(body)}`);
  return body;
}

/** Readings of `sensor` over the last `minutes`, one a minute, ending now. */
export function history(sensor, name, minutes, base) {
  const now = Date.now();
  return Array.from({ length: minutes }, (_, i) => ({
    sensor,
    name,
    measured_at: now - (minutes - i) * 60_000,
    temperature: base + Math.sin(i / 6),
    humidity: 45 + 5 * Math.cos(i / 9),
  }));
}
