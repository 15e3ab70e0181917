// End-to-end test of the desktop app as a user's one background program: a second `clima`
// hands over to the running one and exits 0, Settings offers starting at log-in (an autostart
// entry under a fresh HOME), and in a session with no tray (Xvfb and a bare session bus: no
// StatusNotifier host) closing the window quits and stops the engine. Run by scripts/test under
// xvfb-run after `cargo build -p clima-desktop`. Uses fixed ports (4444, 4445, 18539): one run
// at a time.

import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Session, waitFor } from './webdriver.mjs';
import { ROOT, TARGET, start, tempDir, waitForPort, waitForTauriDriver, waitForPortClosed } from './util.mjs';

const APP = path.join(TARGET, 'debug', 'clima');
const PORT = 18539;
const DRIVER_PORT = 4444;

/** The app's visible top-level windows titled Clima, by X id. */
function climaWindows() {
  try {
    return execFileSync('xdotool', ['search', '--onlyvisible', '--name', '^Clima$'], { encoding: 'utf8', timeout: 10_000 })
      .trim()
      .split('\n')
      .filter(Boolean);
  } catch (e) {
    // xdotool exits 1 when nothing matches.
    if (e.status === 1) return [];
    throw e;
  }
}

/** Starts a session bus of its own; resolves to `{bus, address}` once it prints its address. */
async function sessionBus() {
  const bus = start('dbus-daemon', ['--session', '--nofork', '--print-address=1']);
  const address = await waitFor('the session bus address', () => bus.output().split('\n').find((l) => l.startsWith('unix:')), 10_000);
  return { bus, address: address.trim() };
}

describe('desktop app in the background', { timeout: 120_000 }, () => {
  let driver;
  let bus;
  let session;
  let dir;
  let env;
  let args;
  // The driver's output (the app's log) goes to the test log when a test failed.
  let failed = false;
  afterEach((t) => {
    failed ||= !t.passed;
  });

  before(async () => {
    assert.ok(existsSync(APP), `${APP} is missing: run cargo build -p clima-desktop first`);
    assert.ok(process.env.DISPLAY, 'needs a display: run under xvfb-run');
    dir = tempDir('clima-e2e-background-');
    const home = path.join(dir.path, 'home');
    mkdirSync(home);
    let address;
    ({ bus, address } = await sessionBus());
    // A fresh user: the autostart entry and anything else the app writes lands under this HOME.
    env = {
      ...process.env,
      HOME: home,
      XDG_CONFIG_HOME: path.join(home, '.config'),
      XDG_DATA_HOME: path.join(home, '.local', 'share'),
      DBUS_SESSION_BUS_ADDRESS: address,
    };
    delete env.CLIMA_TOKEN;
    args = ['--db', path.join(dir.path, 'clima.db'), '--listen', `127.0.0.1:${PORT}`, '--serial', 'off'];
    driver = start('tauri-driver', ['--port', String(DRIVER_PORT)], { env });
    await waitForTauriDriver(DRIVER_PORT);
    // Another run's driver on the fixed port would answer instead of this one.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(driver.child.exitCode, null, `tauri-driver did not start (is port ${DRIVER_PORT} taken?): ${driver.output()}`);
    session = await Session.create(`http://127.0.0.1:${DRIVER_PORT}`, { 'tauri:options': { application: APP, args } });
    await waitForPort(PORT);
  });

  after(async () => {
    if (failed && driver) console.error(`--- driver output:\n${driver.output()}`);
    if (session) await session.quit().catch(() => {});
    await driver?.stop();
    await bus?.stop();
    dir?.remove();
  });

  it('a second clima hands over to the running one and exits 0', async () => {
    await waitFor('the window', () => climaWindows().length === 1, 20_000);
    const second = start(APP, args, { env });
    const exited = await Promise.race([second.exited, new Promise((r) => setTimeout(() => r(null), 15_000))]);
    const output = second.output();
    await second.stop();
    assert.deepEqual(exited, { code: 0, signal: null }, `the second clima did not exit 0 in time: ${output}`);
    assert.doesNotMatch(output, /address in use|could not start/i);
    // The first goes on: one window, its engine still answering.
    assert.equal(climaWindows().length, 1);
    assert.equal((await fetch(`http://127.0.0.1:${PORT}/healthz`)).status, 200);
    await waitFor('the first one to hear of the second', () => driver.output().includes('another clima was started'), 10_000);
  });

  it('Settings shows the version, the database and that there is no tray', async () => {
    await session.click(await session.find('#open-settings'));
    const shown = await waitFor('the About and Background parts', () =>
      session.exec(`const bg = document.getElementById('background');
        return bg.hidden ? null : {
          version: document.getElementById('about-version').textContent,
          db: document.getElementById('about-db').textContent,
          noTray: !document.getElementById('no-tray').hidden,
          keepDisabled: document.getElementById('keep-in-tray').disabled,
          autostart: document.getElementById('autostart').checked,
        };`),
    );
    const version = JSON.parse(readFileSync(path.join(ROOT, 'src-tauri', 'tauri.conf.json'), 'utf8')).version;
    assert.equal(execFileSync(APP, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim(), `clima ${version}`);
    assert.deepEqual(shown, { version, db: path.join(dir.path, 'clima.db'), noTray: true, keepDisabled: true, autostart: false });
  });

  it('starting at log-in writes the autostart entry, and turning it off removes it', async () => {
    const entry = path.join(env.HOME, '.config', 'autostart', 'Clima.desktop');
    assert.ok(!existsSync(entry), 'off by default');
    await session.click(await session.find('#autostart'));
    // The entry is created and then written: wait for its whole text, not only its name.
    const exec = new RegExp(`^Exec=${APP.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`, 'm');
    const text = await waitFor('the autostart entry', () => (existsSync(entry) && exec.test(readFileSync(entry, 'utf8')) ? readFileSync(entry, 'utf8') : null), 10_000);
    assert.match(text, /^\[Desktop Entry\]/m);
    await session.click(await session.find('#autostart'));
    await waitFor('the entry to go', () => !existsSync(entry), 10_000);
    assert.equal(await session.exec('return document.getElementById("background-error").textContent'), '');
  });

  it('with no tray, closing the window quits and stops the engine', async () => {
    const [window] = climaWindows();
    execFileSync('python3', [path.join(ROOT, 'e2e', 'close-window.py'), window], { timeout: 10_000 });
    await waitForPortClosed(PORT);
    await waitFor('the window to go', () => climaWindows().length === 0, 10_000);
  });
});
