// End-to-end test of the real desktop app: the `clima` binary in a real WebKitGTK window under
// Xvfb, driven by tauri-driver and WebKitWebDriver, with its own stored token (as a user runs
// it) and a hostile serial board on a pseudo-terminal. Run by scripts/test (under xvfb-run) after
// `cargo build -p clima-desktop`. Uses fixed ports (4444, 4445, 18537): one run at a time.

import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Session, waitFor } from './webdriver.mjs';
import { TARGET, appEnv, start, startHostileBoard, tempDir, waitForPort, waitForTauriDriver, waitForPortClosed } from './util.mjs';
import * as dashboard from './dashboard.mjs';

const APP = path.join(TARGET, 'debug', 'clima');
const PORT = 18537;
const DRIVER_PORT = 4444;

/** Runs xdotool (on the test's X display) and returns its output; throws when it fails. */
function xdotool(...args) {
  return execFileSync('xdotool', args, { encoding: 'utf8', timeout: 10_000 }).trim();
}

/** The status line under one chart's Export buttons. */
const exportStatus = (metric) => `
  const el = document.querySelector('#chart-list figure[data-metric="${metric}"] .export-status');
  return el && { state: el.dataset.state || null, text: el.textContent };`;

/** Clicks a chart's Export button and waits for the app's native save dialog (GTK). */
async function openSaveDialog(session, metric, format) {
  await session.click(await session.find(`#chart-list figure[data-metric="${metric}"] .export button[data-format="${format}"]`));
  const title = `^Export kitchen ${metric} as ${format.toUpperCase()}$`;
  const id = await waitFor('the save dialog', () => xdotool('search', '--onlyvisible', '--name', title).split('\n')[0]);
  // No window manager runs under Xvfb: give the dialog the keyboard directly.
  xdotool('windowfocus', '--sync', id);
  return id;
}

/** The app's `status` command, called from the page as the dashboard calls it. */
function appStatus(session) {
  return session.execAsync(`const done = arguments[arguments.length - 1];
    window.__TAURI__.core.invoke('status').then(done, (e) => done({ error: e }));`);
}

let registered = 0;
function test(name, fn) {
  registered++;
  it(name, fn);
}

describe('desktop app', { timeout: 180_000 }, () => {
  let driver;
  let board;
  let session;
  let dir;
  let boardPath;
  // The app's own token (generated on first run, kept in the database); regenerated below.
  let token;
  // The programs' output goes to the log when a test failed or never ran.
  let passed = 0;
  afterEach((t) => {
    if (t.passed) passed++;
  });

  before(async () => {
    assert.ok(existsSync(APP), `${APP} is missing: run cargo build -p clima-desktop first`);
    assert.ok(process.env.DISPLAY, 'needs a display: run under xvfb-run');
    dir = tempDir('clima-e2e-desktop-');
    boardPath = path.join(dir.path, 'hostile-board');
    board = await startHostileBoard(boardPath);
    // No --token and no CLIMA_TOKEN: the app keeps its own, which Settings can regenerate. In
    // English whatever the machine's language (the texts checked here are English). The
    // window's storage starts empty, as on a first run.
    const env = { ...appEnv(dir.path), LANG: 'C.UTF-8' };
    for (const name of ['CLIMA_TOKEN', 'LANGUAGE', 'LC_ALL', 'LC_MESSAGES']) delete env[name];
    driver = start('tauri-driver', ['--port', String(DRIVER_PORT)], { env });
    await waitForTauriDriver(DRIVER_PORT);
    session = await Session.create(`http://127.0.0.1:${DRIVER_PORT}`, {
      'tauri:options': {
        application: APP,
        args: ['--db', path.join(dir.path, 'clima.db'), '--listen', `127.0.0.1:${PORT}`, '--serial', boardPath],
      },
    });
    await waitForPort(PORT);
  });

  after(async () => {
    if (passed < registered) {
      if (driver) console.error(`--- driver output:\n${driver.output()}`);
      if (board) console.error(`--- hostile board output:\n${board.output()}`);
    }
    if (session) await session.quit().catch(() => {});
    await driver?.stop();
    await board?.stop();
    dir?.remove();
  });

  test('opens with the first-run help', async () => {
    await dashboard.ready(session);
    await dashboard.showsEmptyState(session);
    token = (await appStatus(session)).token;
    assert.match(token, /^[0-9a-f]{32}$/, 'a token was generated on first run');
  });

  test('shows posted readings on a card and updates it live', () => dashboard.cardUpdates(session, PORT, token));
  test('draws the charts', () => dashboard.chartAppears(session));
  test('switches ranges', () => dashboard.rangesSwitch(session));
  test('shows time and value under the pointer', () => dashboard.hoverShowsValue(session));

  test('exports a chart as CSV through the native save dialog', async () => {
    assert.ok(process.env.DISPLAY && existsSync('/usr/bin/xdotool'), 'needs xdotool: scripts/install-deps test');
    const out = path.join(dir.path, 'kitchen export.csv');
    await openSaveDialog(session, 'temperature', 'csv');
    // The name field has focus, holding the suggested name: replace it with a full path.
    xdotool('key', '--clearmodifiers', 'ctrl+a');
    xdotool('type', '--delay', '15', out);
    xdotool('key', 'Return');
    const status = await waitFor('the export to finish', async () => {
      const st = await session.exec(exportStatus('temperature'));
      return st && (st.state === 'done' || st.state === 'error') ? st : null;
    });
    assert.equal(status.state, 'done', status.text);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    assert.equal(lines[0], 'sensor,metric,unit,measured_at,received_at,value');
    // The 1 h range holds the 40 minutes of history and the live readings posted since.
    assert.ok(lines.length - 1 >= 40, `${lines.length - 1} rows`);
    assert.match(lines[1], /^kitchen,temperature,°C,\d{4}-\d\d-\d\dT[^,]+Z,[^,]+Z,-?[\d.]+$/);
    assert.equal(status.text, `Saved ${lines.length - 1} readings to ${out}`);
  });

  test('a cancelled save dialog is not an error', async () => {
    await openSaveDialog(session, 'humidity', 'png');
    xdotool('key', 'Escape');
    const status = await waitFor('the dialog to close', async () => {
      const st = await session.exec(exportStatus('humidity'));
      return st && st.state !== 'busy' ? st : null;
    });
    assert.deepEqual(status, { state: 'cancelled', text: '' });
  });
  test('shows a hostile sensor name as text', () => dashboard.hostileNameIsText(session, PORT, token));
  test('says when a sensor\'s clocks disagree', () => dashboard.skewedCards(session, PORT, token));
  test('forgets compared sensors it does not have', () => dashboard.forgetsUnknownCompared(session));
  test('compares two rooms on one chart', () => dashboard.compareChart(session, PORT, token));
  test('calibrates a card from its menu', () => dashboard.calibratedCard(session));
  test('merges a renamed board\'s history', () => dashboard.mergedHistory(session, PORT, token));
  test('deletes a sensor after a confirmation', () => dashboard.deleteWithConfirmation(session, PORT, token));
  test('opens settings with the token and examples', () => dashboard.settingsOpen(session, token, `127.0.0.1:${PORT}`, boardPath));
  test('shows hostile serial lines as text', () => dashboard.hostileSerialIsText(session, boardPath));

  test('regenerates the token from Settings', async () => {
    const fresh = await dashboard.regenerateToken(session, PORT, token);
    // The app reports the token in force.
    const status = await appStatus(session);
    assert.equal(status.token, fresh);
    assert.equal(status.store_problem, null);
    token = fresh;
  });

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
