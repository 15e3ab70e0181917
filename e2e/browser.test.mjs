// End-to-end test of the web dashboard: clima-server serving ui/ to headless Chromium driven by
// chromedriver. Checks the ?token= link is kept and taken out of the address bar, and the same
// dashboard behaviour as the desktop test; the server keeps its own token (--token auto) and
// reads a hostile serial board; a second server, run as a user who may not open its board's
// port, says why and how to fix it. Fixed ports (9515, 18538, 18540): one run at a time.

import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from './webdriver.mjs';
import { ROOT, TARGET, start, startChromium, startHostileBoard, tempDir, waitForPort } from './util.mjs';
import * as dashboard from './dashboard.mjs';

const SERVER = process.env.CLIMA_SERVER || path.join(TARGET, 'debug', 'clima-server');
const PORT = 18538;
const DRIVER_PORT = 9515;

let registered = 0;
function test(name, fn) {
  registered++;
  it(name, fn);
}

describe('web dashboard', { timeout: 300_000 }, () => {
  let server;
  let driver;
  let board;
  let session;
  let dir;
  let boardPath;
  // The server's kept token (--token auto); regenerated below.
  let token;
  // The programs' output goes to the log when a test failed or never ran.
  let passed = 0;
  afterEach((t) => {
    if (t.passed) passed++;
  });
  const base = `http://127.0.0.1:${PORT}`;

  before(async () => {
    assert.ok(existsSync(SERVER), `${SERVER} is missing: run cargo build -p clima-server first`);
    dir = tempDir('clima-e2e-browser-');
    const db = path.join(dir.path, 'clima.db');
    // Generates and prints the token --token auto then uses (as a user would look it up).
    token = execFileSync(SERVER, ['--db', db, 'token'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    assert.match(token, /^[0-9a-f]{32}$/);
    boardPath = path.join(dir.path, 'hostile-board');
    board = await startHostileBoard(boardPath);
    server = start(SERVER, [
      '--db', db, '--listen', `127.0.0.1:${PORT}`, '--token', 'auto',
      '--ui', path.join(ROOT, 'ui'), '--serial', boardPath,
    ]);
    ({ driver, session } = await startChromium(dir.path, DRIVER_PORT, {
      args: ['--window-size=1280,900'],
      // Downloads (the dashboard's Export buttons) land here without asking.
      prefs: { 'download.default_directory': path.join(dir.path, 'downloads'), 'download.prompt_for_download': false },
    }));
    await waitForPort(PORT);
  });

  after(async () => {
    if (passed < registered) {
      if (server) console.error(`--- server output:\n${server.output()}`);
      if (driver) console.error(`--- driver output:\n${driver.output()}`);
      if (board) console.error(`--- hostile board output:\n${board.output()}`);
    }
    if (session) await session.quit().catch(() => {});
    await driver?.stop();
    await server?.stop();
    await board?.stop();
    dir?.remove();
  });

  test('asks for the token when it has none', async () => {
    await session.navigate(`${base}/`);
    await waitFor('the token form', () => session.exec('return !document.getElementById("auth").hidden'), 60_000);
  });

  test('keeps a ?token= link and takes it out of the address bar', async () => {
    await session.navigate(`${base}/?token=${token}`);
    await dashboard.ready(session);
    assert.equal(await session.url(), `${base}/`);
    assert.equal(await session.exec('return localStorage.getItem("clima.token")'), token);
    await session.navigate(`${base}/`);
    await dashboard.ready(session);
    assert.equal(await session.exec('return document.getElementById("auth").hidden'), true);
    await dashboard.showsEmptyState(session);
  });

  test('is live over the event stream', async () => {
    await waitFor('the live stream', async () => (await session.exec('return document.getElementById("conn").dataset.state')) === 'live');
  });

  test('shows posted readings on a card and updates it live', () => dashboard.cardUpdates(session, PORT, token));
  test('marks derived values on the card', () => dashboard.derivedOnCard(session));
  test('draws the charts', () => dashboard.chartAppears(session));
  test('switches ranges', () => dashboard.rangesSwitch(session));
  test('shows time and value under the pointer', () => dashboard.hoverShowsValue(session));

  test('downloads a chart\'s readings as CSV', async () => {
    const downloads = path.join(dir.path, 'downloads');
    await session.click(await session.find('#chart-list figure[data-metric="temperature"] .export button[data-format="csv"]'));
    const status = await waitFor('the download', async () => {
      const st = await session.exec(`const el = document.querySelector('#chart-list figure[data-metric="temperature"] .export-status');
        return el && el.dataset.state !== 'busy' && { state: el.dataset.state, text: el.textContent };`);
      return st && st.state ? st : null;
    });
    assert.equal(status.state, 'done', status.text);
    const name = status.text.match(/^Downloaded (kitchen-temperature-\d{4}-\d\d-\d\d(_\d{4}-\d\d-\d\d)?\.csv) \(/)?.[1];
    assert.ok(name, status.text);
    // Chromium writes a .crdownload file first and renames it when the download is complete.
    const file = await waitFor('the downloaded file', () => readdirSync(downloads).includes(name) && path.join(downloads, name));
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines[0], 'sensor,metric,unit,measured_at,received_at,value');
    assert.ok(lines.length - 1 >= 40, `${lines.length - 1} rows`);
    assert.match(lines[1], /^kitchen,temperature,°C,/);
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
    // The page keeps the new token for the next visit and offers no old one in the address bar.
    assert.equal(await session.exec('return localStorage.getItem("clima.token")'), fresh);
    assert.equal(await session.url(), `${base}/`);
    // The server keeps it too.
    const kept = execFileSync(SERVER, ['--db', path.join(dir.path, 'clima.db'), 'token'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(kept.trim(), fresh);
    token = fresh;
  });

  test('serves exports over HTTP with the token', async () => {
    const now = Date.now();
    const q = `sensor=kitchen&metric=temperature&from=${now - 3_600_000}&to=${now}`;
    const auth = { headers: { Authorization: `Bearer ${token}` } };
    const csv = await fetch(`${base}/api/v1/export.csv?${q}`, auth);
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type'), /^text\/csv/);
    assert.equal((await csv.text()).split('\n')[0], 'sensor,metric,unit,measured_at,received_at,value');
    const png = await fetch(`${base}/api/v1/export.png?${q}`, auth);
    assert.equal(png.headers.get('content-type'), 'image/png');
    assert.deepEqual([...new Uint8Array(await png.arrayBuffer()).slice(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    assert.equal((await fetch(`${base}/api/v1/export.csv?${q}`)).status, 401);
  });

  test('serves the chart as SVG over HTTP', async () => {
    const now = Date.now();
    const q = `sensor=kitchen&metric=temperature&from=${now - 3_600_000}&to=${now}&points=120&width=600&height=200&unit=F`;
    const response = await fetch(`${base}/api/v1/chart.svg?${q}`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'image/svg+xml');
    assert.match(response.headers.get('x-clima-plot-area'), /^\d+,\d+,\d+,\d+$/);
    const svg = await response.text();
    assert.ok(svg.startsWith('<svg') && svg.includes('°F'));
    const denied = await fetch(`${base}/api/v1/chart.svg?${q}`);
    assert.equal(denied.status, 401);
  });

  test('says why a port this user may not open is refused, and the fix', async (t) => {
    const user = unprivilegedUser('clima-it');
    if (!user.uid) {
      t.skip(user.why);
      return;
    }
    // A port as a USB serial device is: read and write for root and the group dialout only.
    const denied = path.join(dir.path, 'denied-board');
    const deniedBoard = await startHostileBoard(denied);
    const device = realpathSync(denied);
    chownSync(device, 0, user.dialout);
    chmodSync(device, 0o660);
    // The user may not reach the build folder (under /root in CI): run copies from a folder of its own.
    const home = path.join(dir.path, 'denied-user');
    mkdirSync(home);
    copyFileSync(SERVER, path.join(home, 'clima-server'));
    chmodSync(path.join(home, 'clima-server'), 0o755);
    cpSync(path.join(ROOT, 'ui'), path.join(home, 'ui'), { recursive: true });
    execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, home]);
    chmodSync(dir.path, 0o755);
    const port = PORT + 2;
    const own = '0123456789abcdef0123456789abcdef';
    const refused = start(path.join(home, 'clima-server'), [
      '--db', path.join(home, 'clima.db'), '--listen', `127.0.0.1:${port}`, '--token', own,
      '--ui', path.join(home, 'ui'), '--serial', denied,
    ], { uid: user.uid, gid: user.gid, env: { ...process.env, HOME: home } });
    let shownOk = false;
    try {
      await waitForPort(port);
      await session.navigate(`http://127.0.0.1:${port}/?token=${own}`);
      await dashboard.ready(session);
      await session.click(await session.find('#open-settings'));
      const shown = await waitFor('the reason and the fix', () => session.exec(`const port = document.querySelector('#ports [data-status="error"]');
        return port && port.querySelector('[data-hint]') && {
          detail: port.querySelector('[data-detail]').textContent, hint: port.querySelector('[data-hint]').textContent };`));
      assert.match(shown.detail, new RegExp(`^permission denied: ${denied.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} may be opened by the group 'dialout'`));
      assert.match(shown.hint, /^To fix: run `sudo usermod -aG dialout \$USER`, then log out and back in/);
      shownOk = true;
    } finally {
      if (!shownOk) console.error(`--- refused server output:\n${refused.output()}`);
      await refused.stop();
      await deniedBoard.stop();
    }
  });
});

/**
 * The ids of `name`, a user with no home or login created if missing, and the group dialout's;
 * `{why}` instead where users cannot be created (not root).
 */
function unprivilegedUser(name) {
  if (process.getuid() !== 0) return { why: 'creating a user needs root (tests run as root in CI)' };
  const id = (flag) => Number(execFileSync('id', [flag, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  try {
    return { uid: id('-u'), gid: id('-g'), dialout: dialoutGid() };
  } catch {
    // Not there yet.
  }
  try {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name], { stdio: 'ignore' });
  } catch (e) {
    // 9: another test created it meanwhile.
    if (e.status !== 9) return { why: `useradd could not create ${name}` };
  }
  return { uid: id('-u'), gid: id('-g'), dialout: dialoutGid() };
}

function dialoutGid() {
  return Number(execFileSync('getent', ['group', 'dialout'], { encoding: 'utf8' }).split(':')[2]);
}
