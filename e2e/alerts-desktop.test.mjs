// End-to-end test of alerts in the real desktop app: `clima` under Xvfb through tauri-driver, on
// a session bus of its own where a small notification server (e2e/notification-server.py)
// stands in for the desktop's. A rule with a short `for` and posted readings make it fire: one
// notification naming the room, the value and since when, the card marked with the reason; more
// readings while it fires notify nothing; a click on the notification brings the window to that
// sensor; going back below resolves it with one more notification. Run by scripts/test under
// xvfb-run after `cargo build -p clima-desktop`. Fixed ports (4444, 4445, 18543): one run at a time.

import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Session, waitFor } from './webdriver.mjs';
import { ROOT, TARGET, appEnv, post, start, tempDir, waitForPort, waitForTauriDriver } from './util.mjs';
import * as dashboard from './dashboard.mjs';

const APP = path.join(TARGET, 'debug', 'clima');
const PORT = 18543;
const DRIVER_PORT = 4444;
const TOKEN = 'alerts-e2e-token';
/** Debian's Python, which has python3-dbus and python3-gi (a pyenv one may not). */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Starts a session bus of its own; resolves to `{bus, address}` once it prints its address. */
async function sessionBus() {
  const bus = start('dbus-daemon', ['--session', '--nofork', '--print-address=1']);
  const address = await waitFor('the session bus address', () => bus.output().split('\n').find((l) => l.startsWith('unix:')), 10_000);
  return { bus, address: address.trim() };
}

/** The notification server: `shown()` lists the Notify calls so far, `click(id)` clicks one. */
function notificationServer(env) {
  const child = spawn(PYTHON, [path.join(ROOT, 'e2e', 'notification-server.py')], { env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err = (err + c).slice(-5000)));
  const lines = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  return {
    ready: () => lines().some((l) => l.ready),
    shown: () => lines().filter((l) => l.summary != null),
    click: (id) => child.stdin.write(`click ${id}\n`),
    output: () => `${out}\n${err}`,
    stop() {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    },
  };
}

async function api(method, route, body) {
  const response = await fetch(`http://127.0.0.1:${PORT}${route}`, {
    method,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

const card = (sensor) => `
  const el = document.querySelector('[data-sensor="${sensor}"]');
  return el && { alerting: el.classList.contains('alerting'), note: el.querySelector('.alert-note').textContent,
                 selected: el.classList.contains('selected') };`;

let registered = 0;
function test(name, fn) {
  registered++;
  it(name, fn);
}

describe('alerts in the desktop app', { timeout: 180_000 }, () => {
  let bus;
  let notifications;
  let driver;
  let session;
  let dir;
  let passed = 0;
  afterEach((t) => {
    if (t.passed) passed++;
  });

  before(async () => {
    assert.ok(existsSync(APP), `${APP} is missing: run cargo build -p clima-desktop first`);
    assert.ok(process.env.DISPLAY, 'needs a display: run under xvfb-run');
    dir = tempDir('clima-e2e-alerts-');
    let address;
    ({ bus, address } = await sessionBus());
    const env = { ...appEnv(dir.path), LANG: 'C.UTF-8', DBUS_SESSION_BUS_ADDRESS: address, TZ: 'UTC' };
    for (const name of ['CLIMA_TOKEN', 'LANGUAGE', 'LC_ALL', 'LC_MESSAGES']) delete env[name];
    notifications = notificationServer(env);
    await waitFor('the notification server', () => notifications.ready(), 10_000);
    driver = start('tauri-driver', ['--port', String(DRIVER_PORT)], { env });
    await waitForTauriDriver(DRIVER_PORT);
    session = await Session.create(`http://127.0.0.1:${DRIVER_PORT}`, {
      'tauri:options': {
        application: APP,
        args: ['--db', path.join(dir.path, 'clima.db'), '--listen', `127.0.0.1:${PORT}`, '--token', TOKEN, '--serial', 'off'],
      },
    });
    await waitForPort(PORT);
    await dashboard.ready(session);
  });

  after(async () => {
    if (passed < registered) {
      if (driver) console.error(`--- driver output:\n${driver.output()}`);
      if (notifications) console.error(`--- notification server output:\n${notifications.output()}`);
    }
    if (session) await session.quit().catch(() => {});
    await driver?.stop();
    notifications?.stop();
    await bus?.stop();
    dir?.remove();
  });

  test('a rule with a short for fires: one notification, and the card says why', async () => {
    // Two sensors, so that a click on the notification has a selection to change.
    await post(PORT, TOKEN, [
      { sensor: 'kitchen', name: 'Kitchen', temperature: 21, humidity: 50 },
      { sensor: 'bath', name: 'Bathroom', temperature: 22, humidity: 55 },
    ]);
    await waitFor('two cards', async () => (await session.exec('return document.querySelectorAll(".card").length')) === 2);
    await session.click(await session.find('[data-sensor="kitchen"]'));
    const created = await api('POST', '/api/v1/alerts/rules', { sensor: 'bath', metric: 'humidity', condition: 'above', threshold: 70, for: '2s', label: 'Bath damp' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await post(PORT, TOKEN, { sensor: 'bath', name: 'Bathroom', humidity: 80 });
    // Pending, not told: nothing is shown before `for` has passed.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(notifications.shown().length, 0, 'no notification while pending');
    await new Promise((r) => setTimeout(r, 2000));
    await post(PORT, TOKEN, { sensor: 'bath', name: 'Bathroom', humidity: 81.5 });
    const [firing] = await waitFor('the firing notification', () => (notifications.shown().length ? notifications.shown() : null), 20_000);
    assert.equal(firing.summary, 'Bathroom: Bath damp');
    assert.match(firing.body, /humidity above 70 % for 2s: 8[01](\.5)? %/);
    assert.match(firing.body, /\(since \d\d:\d\d\)$/);
    assert.ok(firing.actions.includes('default'), `a click is reported: ${JSON.stringify(firing.actions)}`);
    const c = await waitFor('the card marked', async () => {
      const now = await session.exec(card('bath'));
      return now?.alerting ? now : null;
    });
    assert.match(c.note, /^⚠ Bath damp: humidity above 70 % for 2s: 8[01](\.5)? %, since \d\d:\d\d$/);
    assert.equal((await session.exec(card('kitchen'))).alerting, false);
    // The Alerts panel lists it too.
    await waitFor('the active list', () => session.exec('return !!document.querySelector(\'#alerts-active li[data-state="firing"][data-sensor="bath"]\')'));
  });

  test('more readings while it fires notify nothing', async () => {
    for (const humidity of [82, 83, 84]) await post(PORT, TOKEN, { sensor: 'bath', humidity });
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(notifications.shown().length, 1, JSON.stringify(notifications.shown()));
  });

  test('a click on the notification shows its sensor', async () => {
    assert.equal((await session.exec(card('bath'))).selected, false);
    notifications.click(notifications.shown()[0].id);
    await waitFor('the bath card selected', async () => (await session.exec(card('bath'))).selected);
    assert.match(await session.exec('return document.getElementById("chart-title").textContent'), /Bathroom/);
  });

  test('back below the line resolves it: one more notification, the mark goes', async () => {
    await post(PORT, TOKEN, { sensor: 'bath', humidity: 60 });
    const shown = await waitFor('the resolved notification', () => (notifications.shown().length === 2 ? notifications.shown() : null), 20_000);
    assert.equal(shown[1].summary, 'Resolved: Bathroom: Bath damp');
    assert.match(shown[1].body, /back to 60 %/);
    await waitFor('the mark to go', async () => !(await session.exec(card('bath'))).alerting);
    // Newest first: resolved, then fired (a pending step before may be listed too).
    const states = await waitFor('the history', async () => {
      const s = await session.exec(`return [...document.querySelectorAll('#alerts-history li')].map((li) => li.dataset.state)`);
      return s[0] === 'ok' ? s : null;
    });
    assert.equal(states[1], 'firing', states.join(','));
  });
});
