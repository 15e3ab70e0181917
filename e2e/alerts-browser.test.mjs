// End-to-end test of alerts in the web dashboard: clima-server serving ui/ to headless Chromium.
// A rule is made in Settings from a preset (a bad number first: the engine's error shows next to
// its field), a webhook is added and removed, posted readings make the rule fire and resolve,
// and the Alerts panel shows the active alert and then the history, live over the event stream;
// the card is marked while it fires. Run by scripts/test after `cargo build -p clima-server`.
// Fixed ports (9518, 18544): one run at a time.

import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from './webdriver.mjs';
import { ROOT, TARGET, post, start, startChromium, tempDir, waitForPort } from './util.mjs';
import * as dashboard from './dashboard.mjs';

const SERVER = process.env.CLIMA_SERVER || path.join(TARGET, 'debug', 'clima-server');
const PORT = 18544;
const DRIVER_PORT = 9518;
const TOKEN = 'alerts-browser-token';

let registered = 0;
function test(name, fn) {
  registered++;
  it(name, fn);
}

describe('alerts in the web dashboard', { timeout: 240_000 }, () => {
  let server;
  let driver;
  let session;
  let dir;
  let passed = 0;
  afterEach((t) => {
    if (t.passed) passed++;
  });
  const base = `http://127.0.0.1:${PORT}`;

  /** Replaces a form field's text as a user does: clear, then type. */
  async function fill(css, text) {
    const el = await session.find(css);
    await session.cmd('POST', `/element/${el}/clear`, {});
    if (text) await session.type(el, text);
  }
  const fieldError = (field) => session.exec(`return document.querySelector('#alert-form .field-error[data-field="${field}"]').textContent`);
  const activeItems = () => session.exec(`return [...document.querySelectorAll('#alerts-active li.alert-item')].map((li) => ({ state: li.dataset.state, sensor: li.dataset.sensor, text: li.textContent }))`);
  const historyStates = () => session.exec(`return [...document.querySelectorAll('#alerts-history li.alert-item')].map((li) => li.dataset.state)`);

  before(async () => {
    assert.ok(existsSync(SERVER), `${SERVER} is missing: run cargo build -p clima-server first`);
    dir = tempDir('clima-e2e-alerts-browser-');
    server = start(SERVER, [
      '--db', path.join(dir.path, 'clima.db'), '--listen', `127.0.0.1:${PORT}`, '--token', TOKEN,
      '--ui', path.join(ROOT, 'ui'), '--serial', 'off',
    ]);
    ({ driver, session } = await startChromium(dir.path, DRIVER_PORT, { args: ['--window-size=1280,1000'] }));
    await waitForPort(PORT);
    await post(PORT, TOKEN, [{ sensor: 'bath', name: 'Bathroom', temperature: 22, humidity: 55 }]);
    await session.navigate(`${base}/?token=${TOKEN}`);
    await dashboard.ready(session);
    await waitFor('the bath card', () => session.exec('return !!document.querySelector(\'[data-sensor="bath"]\')'));
  });

  after(async () => {
    if (passed < registered) {
      if (server) console.error(`--- server output:\n${server.output()}`);
      if (driver) console.error(`--- driver output:\n${driver.output()}`);
    }
    if (session) await session.quit().catch(() => {});
    await driver?.stop();
    await server?.stop();
    dir?.remove();
  });

  test('the panel stays hidden while nothing has fired', async () => {
    assert.equal(await session.exec('return document.getElementById("alerts").hidden'), true);
  });

  test('Settings offers the presets with their numbers, and shows a bad field\'s error beside it', async () => {
    await dashboard.openSettings(session);
    await waitFor('the presets', () => session.exec('return document.querySelectorAll(".alert-presets .preset").length === 6'));
    const mould = await session.exec('return document.querySelector(\'.preset[data-preset="mould"]\').textContent');
    assert.equal(mould, 'Mould riskHumidity above 70 for 6h');
    await session.click(await session.find('.preset[data-preset="mould"]'));
    await waitFor('the form filled in', async () => (await session.exec('return document.querySelector(\'#alert-form [name="threshold"]\').value')) === '70');
    assert.equal(await session.exec('return document.querySelector(\'#alert-form [name="for"]\').value'), '6h');
    assert.equal(await session.exec('return document.querySelector(\'#alert-form [name="label"]\').value'), 'Mould risk');
    // Numbers are editable; a bad one is refused by the engine, which names the field.
    await fill('#alert-form [name="sensor"]', 'bath');
    await fill('#alert-form [name="threshold"]', '70');
    await fill('#alert-form [name="for"]', 'six hours');
    await session.click(await session.find('#alert-form button[type="submit"]'));
    const error = await waitFor('the error beside For', () => fieldError('for'));
    assert.match(error, /^for: /);
    assert.equal(await fieldError('threshold'), '');
    assert.equal(await session.exec('return document.querySelectorAll(".alert-rule").length'), 0, 'nothing was added');
  });

  test('the corrected rule is added and listed', async () => {
    await fill('#alert-form [name="for"]', '2s');
    await session.click(await session.find('#alert-form button[type="submit"]'));
    const rule = await waitFor('the rule in the list', () => session.exec('const el = document.querySelector(".alert-rule"); return el && el.textContent'));
    assert.match(rule, /Mould risk/);
    assert.match(rule, /bath · Humidity above 70 for 2s/);
    const listed = await (await fetch(`${base}/api/v1/alerts/rules`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json();
    assert.deepEqual(
      listed.rules.map(({ sensor, metric, condition, threshold, for: hold, enabled }) => ({ sensor, metric, condition, threshold, for: hold, enabled })),
      [{ sensor: 'bath', metric: 'humidity', condition: 'above', threshold: 70, for: '2s', enabled: true }],
    );
  });

  test('a webhook is added (an ntfy address says so) and removed', async () => {
    await fill('#webhook-url', 'https://ntfy.sh/clima-e2e-alerts');
    await session.click(await session.find('#webhook-url + button'));
    const row = await waitFor('the webhook', () => session.exec('const el = document.querySelector(".webhook"); return el && { format: el.dataset.format, text: el.textContent }'));
    assert.equal(row.format, 'ntfy');
    assert.match(row.text, /ntfy message/);
    await session.click(await session.find('.webhook button'));
    await waitFor('the webhook gone', () => session.exec('return document.querySelectorAll(".webhook").length === 0'));
    // A bad address is refused with the engine's reason.
    await fill('#webhook-url', 'not a url');
    await session.click(await session.find('#webhook-url + button'));
    await waitFor('the webhook error', () => session.exec('return document.querySelector("#webhook-url").closest("div").nextElementSibling.textContent'));
    await session.click(await session.find('#close-settings'));
  });

  test('posted readings fire the rule: the list shows it live and the card says why', async () => {
    await post(PORT, TOKEN, { sensor: 'bath', humidity: 78 });
    await new Promise((r) => setTimeout(r, 2500));
    await post(PORT, TOKEN, { sensor: 'bath', humidity: 79.5 });
    const items = await waitFor('the firing alert in the list', async () => {
      const a = await activeItems();
      return a.some((x) => x.state === 'firing') ? a : null;
    });
    assert.equal(items.length, 1);
    assert.equal(items[0].sensor, 'bath');
    assert.match(items[0].text, /^firing Bathroom · Mould risk — humidity above 70 % for 2s: 7[89](\.5)? % since /);
    assert.equal(await session.exec('return document.getElementById("alerts").hidden'), false);
    assert.equal(await session.exec('return document.getElementById("alerts-active-count").textContent'), '1 firing');
    const note = await session.exec('return document.querySelector(\'[data-sensor="bath"] .alert-note\').textContent');
    assert.match(note, /^⚠ Mould risk: humidity above 70 % for 2s: 7[89](\.5)? %, since \d\d:\d\d$/);
    assert.equal(await session.exec('return document.querySelector(\'[data-sensor="bath"]\').classList.contains("alerting")'), true);
  });

  test('resolved: the list empties and the history shows both changes', async () => {
    await post(PORT, TOKEN, { sensor: 'bath', humidity: 60 });
    await waitFor('no active alert', async () => (await activeItems()).length === 0);
    const states = await waitFor('the history', async () => {
      const s = await historyStates();
      return s[0] === 'ok' ? s : null;
    });
    assert.equal(states[1], 'firing', states.join(','));
    assert.match(await session.exec('return document.getElementById("alerts-history-title").textContent'), /^Recent changes \(\d+, the last 200 are kept\)$/);
    assert.equal(await session.exec('return document.querySelector(\'[data-sensor="bath"]\').classList.contains("alerting")'), false);
    // The same list after a reload (read from the engine, not only from the stream).
    await session.navigate(`${base}/`);
    await dashboard.ready(session);
    await waitFor('the history after a reload', async () => (await historyStates())[0] === 'ok');
  });
});
