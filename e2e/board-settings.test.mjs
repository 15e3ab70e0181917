// End-to-end test of a serial board's settings in the web dashboard's port panel: clima-server
// reads a virtual board (clima-sim printing SparkFun's BME280 example, whose temperatures are
// in °F with no unit) and headless Chromium, driven by chromedriver, tells Clima the board's
// unit and a series to ignore. Fixed ports (9515, 18538): one run at a time, and not beside
// browser.test.mjs.

import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ELEMENT, waitFor } from './webdriver.mjs';
import { ROOT, TARGET, start, startBoard, startChromium, tempDir, waitForPort, waitForPortClosed } from './util.mjs';
import * as dashboard from './dashboard.mjs';

const SERVER = process.env.CLIMA_SERVER || path.join(TARGET, 'debug', 'clima-server');
const SIM = process.env.CLIMA_SIM || path.join(TARGET, 'debug', 'clima-sim');
const PORT = 18538;
const DRIVER_PORT = 9515;
const TOKEN = 'board-settings-e2e-token';
// The board's link is named `sparkfun`, so its readings are the sensor `serial-sparkfun`.
const SENSOR = 'serial-sparkfun';
const HUMIDITY = `${SENSOR}/humidity`;

let registered = 0;
function test(name, fn) {
  registered++;
  it(name, fn);
}

/** Every stored value of one of the board's metrics, oldest first. */
async function stored(metric) {
  const q = `sensor=${SENSOR}&metric=${metric}&from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z`;
  const response = await fetch(`http://127.0.0.1:${PORT}/api/v1/export.csv?${q}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  if (response.status === 404) return [];
  assert.equal(response.status, 200);
  return (await response.text()).trim().split('\n').slice(1).map((l) => Number(l.split(',').pop()));
}

/** Runs `script` on the board's article in the ports panel (`arguments[0]`), or null if not shown. */
function onBoard(s, link, script) {
  return s.exec(`const port = [...document.querySelectorAll('#ports article.port')].find((a) => a.dataset.port === arguments[0]);
    if (!port) return null;
    ${script}`, [link]);
}

/** Clicks what `css` finds in the board's article; retried, as the panel is redrawn every 2 s. */
async function clickOnBoard(s, link, css, what) {
  await waitFor(what, async () => {
    const el = await onBoard(s, link, `return port.querySelector(${JSON.stringify(css)});`);
    if (!el) return false;
    await s.click(el[ELEMENT]);
    return true;
  });
}

/** The board's unit and ignored series as the panel shows them after its next redraw. */
function shownSettings(s, link) {
  return onBoard(s, link, `const select = port.querySelector('select[data-setting="temperature_unit"]');
    const ignored = [...port.querySelectorAll('input[data-series]')].filter((b) => b.checked).map((b) => b.dataset.series);
    return { unit: select.value, ignored };`);
}

/**
 * Waits until the board has printed at least `lines` more temperatures while humidity stayed
 * as it was (ignored), then checks every temperature is a room's in °C.
 */
async function temperaturesGrowHumidityDoesNot(lines) {
  // Lines read before the setting applied may still be on their way to the store.
  await new Promise((r) => setTimeout(r, 1000));
  const humidity = (await stored('humidity')).length;
  const from = (await stored('temperature')).length;
  const temperatures = await waitFor(`${lines} more temperatures`, async () => {
    const t = await stored('temperature');
    return t.length >= from + lines && t;
  });
  assert.equal((await stored('humidity')).length, humidity, 'an ignored series is not stored');
  for (const t of temperatures) assert.ok(t > 10 && t < 35, `${t} is a room's temperature in °C`);
}

describe('board settings in the web dashboard', { timeout: 300_000 }, () => {
  let dir;
  let board;
  let server;
  let driver;
  let session;
  let link;
  let serverArgs;
  let passed = 0;
  afterEach((t) => {
    if (t.passed) passed++;
  });
  const base = `http://127.0.0.1:${PORT}`;

  before(async () => {
    for (const bin of [SERVER, SIM]) assert.ok(existsSync(bin), `${bin} is missing: run cargo build -p clima-server -p clima-sim first`);
    dir = tempDir('clima-e2e-board-');
    link = path.join(dir.path, 'sparkfun');
    board = await startBoard(SIM, ['board', '--format', 'sparkfun', '--rate', '5', '--link', link], link);
    serverArgs = [
      '--db', path.join(dir.path, 'clima.db'), '--listen', `127.0.0.1:${PORT}`, '--token', TOKEN,
      '--ui', path.join(ROOT, 'ui'), '--serial', link,
    ];
    server = start(SERVER, serverArgs);
    ({ driver, session } = await startChromium(dir.path, DRIVER_PORT, { args: ['--window-size=1280,900'] }));
    await waitForPort(PORT);
  });

  after(async () => {
    if (passed < registered) {
      if (server) console.error(`--- server output:\n${server.output()}`);
      if (board) console.error(`--- board output:\n${board.output()}`);
    }
    if (session) await session.quit().catch(() => {});
    await driver?.stop();
    await server?.stop();
    await board?.stop();
    dir?.remove();
  });

  test('holds back unit-less °F temperatures and says why in the port panel', async () => {
    await session.navigate(`${base}/?token=${TOKEN}`);
    await dashboard.ready(session);
    await dashboard.openSettings(session);
    const reason = await waitFor('the held-back temperature in the port panel', () =>
      onBoard(session, link, `return [...port.querySelectorAll('.unparsed li')].map((li) => li.textContent)
        .find((t) => t.includes('Temp: ') && t.includes('not plausible as a room')) ?? null;`),
    );
    assert.match(reason, /if this board prints °F, choose °F as its temperature unit/);
    assert.ok((await stored('humidity')).length > 0, 'the rest of the line is stored');
    assert.deepEqual(await stored('temperature'), [], 'no temperature stored in a guessed unit');
    assert.deepEqual(await shownSettings(session, link), { unit: '', ignored: [] });
  });

  test('stores the temperatures converted once °F is chosen', async () => {
    await clickOnBoard(session, link, 'details.board-settings summary', 'the board settings');
    await clickOnBoard(session, link, 'select[data-setting="temperature_unit"] option[value="F"]', 'the °F option');
    await waitFor('°F kept for the board', async () => (await shownSettings(session, link))?.unit === 'F');
    const temperatures = await waitFor('stored temperatures', async () => {
      const t = await stored('temperature');
      return t.length >= 5 && t;
    });
    for (const t of temperatures) assert.ok(t > 10 && t < 35, `${t} is a room's temperature in °C`);
  });

  test('stops storing a series once it is ignored', async () => {
    await clickOnBoard(session, link, `input[data-series="${HUMIDITY}"]`, 'the humidity checkbox');
    await waitFor('humidity ignored', async () => (await shownSettings(session, link))?.ignored.includes(HUMIDITY));
    await temperaturesGrowHumidityDoesNot(5);
  });

  test('keeps the board settings across a restart', async () => {
    await server.stop();
    await waitForPortClosed(PORT);
    server = start(SERVER, serverArgs);
    await waitForPort(PORT);
    await session.navigate(`${base}/`);
    await dashboard.ready(session);
    await dashboard.openSettings(session);
    const shown = await waitFor('the board in the port panel', () => shownSettings(session, link));
    assert.deepEqual(shown, { unit: 'F', ignored: [HUMIDITY] });
    await temperaturesGrowHumidityDoesNot(5);
  });
});
