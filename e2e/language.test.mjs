// End-to-end test of the dashboard's languages: the web dashboard in headless Chromium told to
// prefer Japanese (and then English) against a real clima-server with a sensor posted and a
// serial board, and the desktop app under Xvfb started with LANG=ja_JP.UTF-8. The page's visible
// text (first-run guide, cards, charts, Settings with the port panel) must hold no English word
// but sensor names, units and product names in Japanese, and no Japanese in English. Run under
// xvfb-run after `cargo build -p clima-desktop -p clima-server`. Fixed ports (9517, 4446, 4447,
// 18541, 18542): one run at a time.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Session, waitFor } from './webdriver.mjs';
import { HOSTILE_LINES, ROOT, TARGET, appEnv, chromiumSession, history, post, start, startHostileBoard, tempDir, waitForPort, waitForTauriDriver } from './util.mjs';
import * as dashboard from './dashboard.mjs';

const SERVER = process.env.CLIMA_SERVER || path.join(TARGET, 'debug', 'clima-server');
const CHROMEDRIVER = process.env.CHROMEDRIVER || '/usr/bin/chromedriver';
const APP = path.join(TARGET, 'debug', 'clima');
const SERVER_PORT = 18541;
const APP_PORT = 18542;
const CHROMEDRIVER_PORT = 9517;
const TAURI_DRIVER_PORT = 4446;
const WEBKIT_DRIVER_PORT = 4447;
const TOKEN = '0123456789abcdef0123456789abcdef';

/**
 * The English words a Japanese page may show: product and format names, and the letters of
 * units (°C, °F, CO₂, g/m³; durations as 30s, 10m, 6h), in any case (headings are upper-cased by CSS). Sensor names and ids,
 * the port's path and device lines are taken out before the check; code to paste (`code`,
 * `pre`) is not translated.
 */
const ALLOWED = new Set([
  'clima', 'curl', 'usb', 'json', 'csv', 'png', 'svg', 'http', 'esphome', 'esp', 'arduino', 'shelly', 'influxdb',
  'victoriametrics', 'mqtt', 'co', 'c', 'f', 'g', 'm', 'ntfy', 'webhook', 's', 'h',
]);
const JAPANESE = /[\u3040-\u30ff\u3400-\u9fff]/;

/**
 * The page's visible text without code to paste (the first-run curl line, addresses, the token),
 * with the choices of shown lists (WebKit's innerText leaves them out).
 */
const visibleText = `
  let text = document.body.innerText;
  for (const option of document.querySelectorAll('select option')) {
    if (option.parentElement.offsetParent) text += '\\n' + option.text;
  }
  // Longest first: the token is also part of the browser link.
  const codes = [...document.querySelectorAll('code, pre')].map((el) => el.innerText.trim()).filter(Boolean);
  for (const code of codes.sort((a, b) => b.length - a.length)) text = text.split(code).join(' ');
  return text;`;

/** The English words in `text` once the device-supplied strings `device` are taken out. */
function englishWords(text, device) {
  let rest = text;
  // Longest first, so a name is not cut by a shorter one it contains.
  for (const s of [...device].sort((a, b) => b.length - a.length)) rest = rest.split(s).join(' ');
  return [...new Set(rest.match(/[A-Za-z]+/g) ?? [])].filter((w) => !ALLOWED.has(w.toLowerCase()));
}

/** Opens Settings and waits for the port panel to show the board. */
async function openSettings(s, portPath) {
  await s.click(await s.find('#open-settings'));
  await waitFor('the settings panel', () => s.exec('return !document.getElementById("settings").hidden'));
  await waitFor('the port panel', async () => (await s.exec('return document.getElementById("ports").textContent')).includes(portPath));
  await waitFor('the examples', () => s.exec('return !!document.getElementById("example-text")'));
}

/**
 * Walks the page as a new user does (first-run guide, a posted sensor's card and charts,
 * Settings with its ports) and returns the visible text of each view; `snap(name)` is called
 * at each, for a screenshot.
 */
async function views(s, port, token, portPath, sensor, snap = async () => {}) {
  await dashboard.ready(s);
  await waitFor('the first-run guide', () => s.exec('return !document.getElementById("empty").hidden'));
  await waitFor('the demo button', () => s.exec('return !document.getElementById("demo").hidden'));
  const empty = await s.exec(visibleText);
  await snap('empty');
  await post(port, token, history(sensor, 'Kitchen', 40, 21));
  await waitFor('the card', () => s.exec(`return !!document.querySelector('[data-sensor="${sensor}"] .value')`));
  // The 7-day chart has dates on its time axis.
  await s.click(await s.find('#ranges button[data-range="7d"]'));
  await waitFor('the 7-day chart', () =>
    s.exec(`const fig = document.querySelector('#chart-list figure[data-metric="temperature"]');
      return fig && fig.dataset.range === '7d' && fig.querySelector('.chart-art > svg text') !== null;`),
  );
  const cards = await s.exec(visibleText);
  await snap('cards');
  await openSettings(s, portPath);
  const settings = await s.exec(visibleText);
  await snap('settings');
  return { empty, cards, settings };
}

/** Headless Chromium preferring `lang` for its interface and the pages it asks for. */
function languageSession(lang, profile) {
  return chromiumSession(CHROMEDRIVER_PORT, profile, {
    args: ['--window-size=1280,900', `--lang=${lang}`, `--accept-lang=${lang}`],
    prefs: { 'intl.accept_languages': lang },
  });
}

describe('languages', { timeout: 300_000 }, () => {
  let dir;
  let board;
  let boardPath;
  before(async () => {
    dir = tempDir('clima-e2e-language-');
    boardPath = path.join(dir.path, 'board');
    board = await startHostileBoard(boardPath);
  });
  after(async () => {
    await board?.stop();
    dir?.remove();
  });

  /**
   * Checks the page is in Japanese and each view's text (see `views`) holds no English word but
   * the allowed ones, once sensor names and ids, the port's path and what the board prints (not
   * ours to translate) are taken out.
   */
  async function assertJapanese(session, seen) {
    assert.equal(await session.exec('return document.documentElement.lang'), 'ja');
    const device = ['Kitchen', 'kitchen', 'kitchen-ja', boardPath, ...HOSTILE_LINES];
    for (const [view, text] of Object.entries(seen)) {
      assert.match(text, JAPANESE, `${view}: ${text}`);
      assert.deepEqual(englishWords(text, device), [], `${view} has English left:\n${text}`);
    }
  }

  describe('web dashboard in Chromium', () => {
    let server;
    let driver;
    before(async () => {
      assert.ok(existsSync(SERVER), `${SERVER} is missing: run cargo build -p clima-server first`);
      server = start(SERVER, [
        '--db', path.join(dir.path, 'server.db'), '--listen', `127.0.0.1:${SERVER_PORT}`,
        '--ui', path.join(ROOT, 'ui'), '--serial', boardPath, '--token', TOKEN,
      ]);
      driver = start(CHROMEDRIVER, [`--port=${CHROMEDRIVER_PORT}`]);
      await Promise.all([waitForPort(SERVER_PORT), waitForPort(CHROMEDRIVER_PORT)]);
    });
    after(async () => {
      await driver?.stop();
      await server?.stop();
    });

    /** A session in Chromium preferring `lang`, on the dashboard, closed after the test. */
    async function open(t, lang) {
      const session = await languageSession(lang, path.join(dir.path, `profile-${lang}`));
      t.after(() => session.quit().catch(() => {}));
      await session.navigate(`http://127.0.0.1:${SERVER_PORT}/?token=${TOKEN}`);
      return session;
    }

    it('in Japanese', async (t) => {
      // The first run: the database is empty, so the first-run guide shows.
      const session = await open(t, 'ja');
      const snap = async (view) => writeFileSync(screenshotPath(`language-ja-${view}.png`), await session.screenshot());
      const seen = await views(session, SERVER_PORT, TOKEN, boardPath, 'kitchen-ja', snap);
      assert.deepEqual(await session.exec('return navigator.languages'), ['ja']);
      await assertJapanese(session, seen);
      // Dates on the chart's time axis are written the Japanese way (11/26), not "26 Nov".
      const axis = await session.exec(`return [...document.querySelectorAll('#chart-list figure[data-metric="temperature"] svg text')].map((e) => e.textContent.trim())`);
      assert.ok(axis.some((l) => /^\d{1,2}\/\d{1,2}$/.test(l)), JSON.stringify(axis));
      assert.ok(seen.settings.includes('シリアルポート') && seen.settings.includes('接続中'), seen.settings);
    });

    it('in English', async (t) => {
      // The Japanese test left its sensor: English is checked with the cards, charts and Settings.
      const session = await open(t, 'en-US');
      await dashboard.ready(session);
      await post(SERVER_PORT, TOKEN, history('kitchen-en', 'Kitchen', 40, 21));
      await waitFor('the card', () => session.exec('return !!document.querySelector(\'[data-sensor="kitchen-en"] .value\')'));
      await openSettings(session, boardPath);
      const text = await session.exec(visibleText);
      assert.equal(await session.exec('return document.documentElement.lang'), 'en');
      assert.doesNotMatch(text, JAPANESE, text);
      for (const words of ['Settings', 'Temperature', 'connected', 'Release', 'lines read']) assert.ok(text.includes(words), `${words}: ${text}`);
    });
  });

  describe('desktop app with LANG=ja_JP.UTF-8', () => {
    let driver;
    let session;
    before(async () => {
      assert.ok(existsSync(APP), `${APP} is missing: run cargo build -p clima-desktop first`);
      assert.ok(process.env.DISPLAY, 'needs a display: run under xvfb-run');
      // The window follows the system's language as a Japanese desktop session sets it.
      const env = { ...appEnv(dir.path), LANG: 'ja_JP.UTF-8' };
      for (const name of ['LANGUAGE', 'LC_ALL', 'LC_MESSAGES', 'CLIMA_TOKEN']) delete env[name];
      driver = start('tauri-driver', ['--port', String(TAURI_DRIVER_PORT), '--native-port', String(WEBKIT_DRIVER_PORT)], { env });
      await waitForTauriDriver(TAURI_DRIVER_PORT, WEBKIT_DRIVER_PORT);
      session = await Session.create(`http://127.0.0.1:${TAURI_DRIVER_PORT}`, {
        'tauri:options': {
          application: APP,
          args: ['--db', path.join(dir.path, 'app.db'), '--listen', `127.0.0.1:${APP_PORT}`, '--serial', boardPath],
        },
      });
      await waitForPort(APP_PORT);
    });
    after(async () => {
      if (session) await session.quit().catch(() => {});
      else if (driver) console.error(`--- driver output:\n${driver.output()}`);
      await driver?.stop();
    });

    it('shows Japanese', async () => {
      await dashboard.ready(session);
      const token = await session.execAsync(`const done = arguments[arguments.length - 1];
        window.__TAURI__.core.invoke('status').then((s) => done(s.token), () => done(null));`);
      // WebKitGTK reports the system's language itself (from the locale LANG names).
      assert.match((await session.exec('return navigator.languages'))[0], /^ja\b/i);
      await assertJapanese(session, await views(session, APP_PORT, token, boardPath, 'kitchen'));
      // The window has painted the open Settings before the X screen is read.
      await session.execAsync('const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 500)));');
      execFileSync('import', ['-window', 'root', screenshotPath('language-desktop-ja.png')]);
    });
  });
});

/** Where a screenshot of this test goes (beside the desktop test's). */
function screenshotPath(name) {
  const dir = path.join(TARGET, 'e2e');
  mkdirSync(dir, { recursive: true });
  return path.join(dir, name);
}
