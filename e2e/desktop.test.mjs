// End-to-end test of the real desktop app: the `clima` binary in a real WebKitGTK window under
// Xvfb, driven by tauri-driver and WebKitWebDriver. Run by scripts/test (under xvfb-run) after
// `cargo build -p clima-desktop`. Uses fixed ports (4444, 4445, 18537): one run at a time.

import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Session } from './webdriver.mjs';
import { TARGET, start, tempDir, waitForPort, waitForPortClosed } from './util.mjs';
import * as dashboard from './dashboard.mjs';

const APP = path.join(TARGET, 'debug', 'clima');
const PORT = 18537;
const TOKEN = 'e2e-desktop-token';
const DRIVER_PORT = 4444;

let registered = 0;
function test(name, fn) {
  registered++;
  it(name, fn);
}

describe('desktop app', { timeout: 180_000 }, () => {
  let driver;
  let session;
  let dir;
  // The programs' output goes to the log when a test failed or never ran.
  let passed = 0;
  afterEach((t) => {
    if (t.passed) passed++;
  });

  before(async () => {
    assert.ok(existsSync(APP), `${APP} is missing: run cargo build -p clima-desktop first`);
    assert.ok(process.env.DISPLAY, 'needs a display: run under xvfb-run');
    dir = tempDir('clima-e2e-desktop-');
    driver = start('tauri-driver', ['--port', String(DRIVER_PORT)]);
    await waitForPort(DRIVER_PORT);
    session = await Session.create(`http://127.0.0.1:${DRIVER_PORT}`, {
      'tauri:options': {
        application: APP,
        args: ['--db', path.join(dir.path, 'clima.db'), '--listen', `127.0.0.1:${PORT}`, '--token', TOKEN, '--serial', 'off'],
      },
    });
    await waitForPort(PORT);
  });

  after(async () => {
    if (passed < registered) {
      if (driver) console.error(`--- driver output:\n${driver.output()}`);
    }
    if (session) await session.quit().catch(() => {});
    await driver?.stop();
    dir?.remove();
  });

  test('opens with the first-run help', async () => {
    await dashboard.ready(session);
    await dashboard.showsEmptyState(session);
  });

  test('shows posted readings on a card and updates it live', () => dashboard.cardUpdates(session, PORT, TOKEN));
  test('draws the charts', () => dashboard.chartAppears(session));
  test('switches ranges', () => dashboard.rangesSwitch(session));
  test('shows time and value under the pointer', () => dashboard.hoverShowsValue(session));
  test('shows a hostile sensor name as text', () => dashboard.hostileNameIsText(session, PORT, TOKEN));
  test('opens settings with the token and examples', () => dashboard.settingsOpen(session, TOKEN, `127.0.0.1:${PORT}`));

  test('leaves a screenshot of the real window', async () => {
    const out = process.env.CLIMA_SCREENSHOT || path.join(TARGET, 'e2e', 'desktop.png');
    mkdirSync(path.dirname(out), { recursive: true });
    execFileSync('import', ['-window', 'root', out]);
    assert.ok(existsSync(out));
  });

  test('stops the engine when the window closes', async () => {
    await session.quit();
    session = null;
    await waitForPortClosed(PORT);
  });
});
