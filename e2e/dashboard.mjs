// The dashboard checks both end-to-end tests run, against the desktop window and against a
// browser: readings posted over HTTP show on a card and in a chart, ranges switch, settings
// open, the token is regenerated from Settings, and a hostile sensor name and hostile serial
// lines stay text.

import assert from 'node:assert/strict';
import { waitFor } from './webdriver.mjs';
import { HOSTILE, HOSTILE_LINES, history, post, statusWithToken } from './util.mjs';

/** Waits for the page to have loaded its model. A page load from clima-server has been seen
 * to stall for about 17 s under load (see the report of issue #4), hence the long wait. */
export async function ready(s) {
  await waitFor('the dashboard to load', () => s.exec('return document.body.dataset.ready === "true"'), 60_000);
}

export async function showsEmptyState(s) {
  await waitFor('the empty state', () => s.exec('return !document.getElementById("empty").hidden'));
  const text = await s.exec('return document.getElementById("empty-curl").textContent');
  assert.match(text, /curl -X POST http:\/\/.+\/api\/v1\/readings/);
  // The demo board's route exists in this engine, so the button is offered.
  await waitFor('the demo button', () => s.exec('return !document.getElementById("demo").hidden'));
}

export async function cardUpdates(s, port, token) {
  await post(port, token, history('kitchen', 'Kitchen', 40, 21));
  await post(port, token, { sensor: 'kitchen', name: 'Kitchen', temperature: 22.5, humidity: 40.5 });
  const value = (metric) =>
    s.exec(`const el = document.querySelector('[data-sensor="kitchen"] [data-metric="${metric}"] .value'); return el && el.textContent;`);
  await waitFor('the kitchen card', async () => (await value('temperature')) === '22.5');
  assert.equal(await s.exec('return document.querySelector(\'[data-sensor="kitchen"] .name\').textContent'), 'Kitchen');
  assert.equal(await value('humidity'), '40.5');
  assert.equal(await s.exec('return document.getElementById("empty").hidden'), true);
  // A new reading updates the card live, without a reload.
  await post(port, token, { sensor: 'kitchen', temperature: 23.25 });
  await waitFor('the live update', async () => (await value('temperature')) === '23.3');
  const age = await s.exec('return document.querySelector(\'[data-sensor="kitchen"] .age\').textContent');
  assert.match(age, /^(just now|\d+\b.* ago)$/);
  const unit = await s.exec('return document.querySelector(\'[data-sensor="kitchen"] [data-metric="temperature"] .unit\').textContent');
  assert.equal(unit, '°C');
}

/**
 * The kitchen's dew point and absolute humidity, which it never sent, are on its card marked as
 * derived (from 22.5 °C and 40.5 %: 8.4 °C and 8.1 g/m³); what it sent is not marked.
 */
export async function derivedOnCard(s) {
  const row = (metric) =>
    s.exec(`const el = document.querySelector('[data-sensor="kitchen"] [data-metric="${metric}"]');
      return el && { value: el.querySelector('.value').textContent, unit: el.querySelector('.unit').textContent,
                     derived: el.dataset.derived, mark: el.querySelector('.derived').textContent };`);
  assert.deepEqual(await waitFor('the dew point row', () => row('dew_point')), { value: '8.4', unit: '°C', derived: 'true', mark: 'derived' });
  assert.deepEqual(await row('absolute_humidity'), { value: '8.1', unit: 'g/m³', derived: 'true', mark: 'derived' });
  assert.deepEqual(await row('humidity'), { value: '40.5', unit: '%', derived: 'false', mark: '' });
}

const chartState = (metric) => `
  const fig = document.querySelector('#chart-list figure[data-metric="${metric}"]');
  if (!fig) return null;
  const svg = fig.querySelector('.chart-art > svg');
  return { range: fig.dataset.range || null, points: Number(fig.dataset.points || 0),
           loaded: !!svg && svg.childElementCount > 0 && svg.getBoundingClientRect().width > 0,
           error: fig.classList.contains('error') };`;

export async function chartAppears(s) {
  const state = await waitFor('the temperature chart', async () => {
    const st = await s.exec(chartState('temperature'));
    return st && st.loaded && st.points > 0 ? st : null;
  });
  assert.equal(state.error, false);
  assert.equal(await s.exec('return document.getElementById("chart-title").textContent'), 'Kitchen');
  // The humidity chart is there too.
  await waitFor('the humidity chart', async () => (await s.exec(chartState('humidity')))?.loaded);
}

export async function rangesSwitch(s) {
  for (const [range, minPoints] of [['15m', 1], ['24h', 40], ['7d', 40], ['1h', 40]]) {
    const button = await s.find(`#ranges button[data-range="${range}"]`);
    await s.click(button);
    const state = await waitFor(`the ${range} chart`, async () => {
      const st = await s.exec(chartState('temperature'));
      return st && st.range === range && st.loaded ? st : null;
    });
    assert.ok(state.points >= minPoints, `${range}: ${state.points} readings charted`);
    assert.equal(await s.attribute(button, 'aria-pressed'), 'true');
  }
}

export async function hoverShowsValue(s) {
  const tip = await s.exec(`
    const fig = document.querySelector('#chart-list figure[data-metric="temperature"]');
    const box = fig.querySelector('.chart-art').getBoundingClientRect();
    const plot = fig.querySelector('.plot');
    plot.dispatchEvent(new PointerEvent('pointermove', { clientX: box.right - 40, clientY: box.top + box.height / 2, bubbles: true }));
    const tip = fig.querySelector('.tip');
    return tip.hidden ? null : tip.textContent;`);
  assert.ok(tip, 'a tooltip shows');
  assert.match(tip, /\d{2}:\d{2}.*(°C|no readings)/);
}

export async function hostileNameIsText(s, port, token) {
  await post(port, token, { sensor: 'evil', name: HOSTILE, temperature: 1 });
  const name = await waitFor('the hostile card', () =>
    s.exec('const el = document.querySelector(\'[data-sensor="evil"] .name\'); return el && el.textContent;'),
  );
  assert.equal(name, HOSTILE);
  // Select it, so its name is also the chart title.
  await s.click(await s.find('[data-sensor="evil"]'));
  await waitFor('the hostile chart title', async () => (await s.exec('return document.getElementById("chart-title").textContent')) === HOSTILE);
  assert.equal(await s.exec('return document.querySelectorAll(\'img[src="x"], [onerror]\').length'), 0);
  assert.equal(await s.alertText(), null, 'no alert opened');
  await s.click(await s.find('[data-sensor="kitchen"]'));
}

/**
 * Three sensors whose two clocks disagree: a device clock 3 h behind, a backlog from yesterday
 * and a clock half an hour ahead. Each card is stale, ages from its newest measurement, and
 * says why with both times.
 */
export async function skewedCards(s, port, token) {
  const now = Date.now();
  await post(port, token, { sensor: 'hall', temperature: 19, measured_at: now - 3 * 3_600_000 });
  await post(port, token, [0, 1, 2].map((i) => ({ sensor: 'cellar', temperature: 12 + i, measured_at: now - 86_400_000 + i * 60_000 })));
  // Half a minute more, so the delay before its receipt does not make it 29 min.
  await post(port, token, { sensor: 'attic', temperature: 25, measured_at: now + 30.5 * 60_000 });
  const card = (id) => () =>
    s.exec(`const el = document.querySelector('[data-sensor="${id}"]');
      return el && el.querySelector('.stale-note').textContent &&
        { note: el.querySelector('.stale-note').textContent, age: el.querySelector('.age').textContent, stale: el.classList.contains('stale') };`);
  const time = '\\d\\d:\\d\\d';
  const hall = await waitFor('the hall card', card('hall'));
  assert.match(hall.note, new RegExp(`^Clock 3 hr behind: measured ${time}, received ${time}$`));
  assert.match(hall.age, /^3\b.* ago$/);
  const cellar = await waitFor('the cellar card', card('cellar'));
  assert.match(cellar.note, new RegExp(`^Backlog from .+ ${time}, received ${time}$`));
  assert.match(cellar.age, /^23\b.* ago$/);
  const attic = await waitFor('the attic card', card('attic'));
  assert.match(attic.note, new RegExp(`^Clock 30 min ahead: measured ${time}, received ${time}$`));
  assert.equal(attic.age, 'just now');
  for (const c of [hall, cellar, attic]) assert.ok(c.stale, c.note);
}

/** A probe for the token Settings shows. */
const shownToken = (s) => () => s.exec('const el = document.querySelector(\'[data-fact="token"] code\'); return el && el.textContent;');

export async function openSettings(s) {
  if (await s.exec('return document.getElementById("settings").hidden')) await s.click(await s.find('#open-settings'));
  await waitFor('the settings panel', () => s.exec('return !document.getElementById("settings").hidden'));
}

async function closeSettings(s) {
  await s.click(await s.find('#close-settings'));
  await waitFor('the settings panel to close', () => s.exec('return document.getElementById("settings").hidden'));
}

/** `portPath` is the serial port the engine reads (the hostile board's link). */
export async function settingsOpen(s, token, address, portPath) {
  await openSettings(s);
  const tokenText = await waitFor('the token', shownToken(s));
  assert.equal(tokenText, token);
  const example = await s.exec('return document.getElementById("example-text").textContent');
  assert.ok(example.includes(`http://${address}/api/v1/readings`), example);
  assert.ok(example.includes(`Bearer ${token}`), example);
  for (const id of ['esphome', 'arduino', 'shelly']) {
    await s.click(await s.find(`.tabs button[data-example="${id}"]`));
    const text = await s.exec('return document.getElementById("example-text").textContent');
    assert.ok(text.includes(address), `${id}: ${text}`);
  }
  const ports = await waitFor('the ports section', () => s.exec('return document.getElementById("ports").textContent'));
  assert.ok(ports.includes(portPath), ports);
  // °F applies to cards at once.
  await s.click(await s.find('input[name="temp-unit"][value="F"]'));
  await waitFor('°F on the card', async () =>
    (await s.exec('return document.querySelector(\'[data-sensor="kitchen"] [data-metric="temperature"] .unit\').textContent')) === '°F',
  );
  await s.click(await s.find('input[name="temp-unit"][value="C"]'));
  await closeSettings(s);
}

/**
 * Regenerates the token from Settings (Regenerate, then the inline confirm button) and returns
 * the new one, after checking the engine refuses the old one and the page keeps working.
 */
export async function regenerateToken(s, port, token) {
  await openSettings(s);
  assert.equal(await waitFor('the token', shownToken(s)), token);
  // The first click only asks; Cancel leaves the token alone.
  await s.click(await s.find('#regenerate-token'));
  await waitFor('the confirm step', () => s.exec('return !!document.getElementById("regenerate-confirm")'));
  assert.equal(await shownToken(s)(), token);
  assert.equal(await statusWithToken(port, token), 200, 'asking is not regenerating');
  await s.click(await s.find('#regenerate-cancel'));
  await waitFor('the cancelled confirm step', () => s.exec('return !document.getElementById("regenerate-confirm") && !!document.getElementById("regenerate-token")'));
  assert.equal(await statusWithToken(port, token), 200, 'cancel is not regenerating');

  await s.click(await s.find('#regenerate-token'));
  await s.click(await s.find('#regenerate-confirm'));
  const fresh = await waitFor('the new token', async () => {
    const shown = await shownToken(s)();
    return shown && shown !== token ? shown : null;
  });
  assert.match(fresh, /^[0-9a-f]{32}$/);
  assert.equal(await statusWithToken(port, token), 401, 'the old token is refused');
  assert.equal(await statusWithToken(port, fresh), 200, 'the new token is accepted');
  const note = await s.exec('return document.querySelector(\'[data-fact="token"] .token-done\')?.textContent ?? null');
  assert.match(note ?? '', /New token in force/);
  const example = await s.exec('return document.getElementById("example-text").textContent');
  assert.ok(example.includes(fresh) && !example.includes(token), example);
  await closeSettings(s);

  // The page keeps working: a reading sent with the new token shows live...
  await post(port, fresh, { sensor: 'kitchen', temperature: 24.5 });
  await waitFor('a live update after the new token', async () =>
    (await s.exec('return document.querySelector(\'[data-sensor="kitchen"] [data-metric="temperature"] .value\')?.textContent')) === '24.5',
  );
  // ...and a reload loads the sensors again.
  await s.exec('window.__beforeReload = true; setTimeout(() => location.reload(), 50);');
  await waitFor(
    'the reloaded dashboard',
    () => s.exec('return !window.__beforeReload && document.body.dataset.ready === "true" && !!document.querySelector(\'[data-sensor="kitchen"] .value\')'),
    60_000,
  );
  assert.equal(await s.exec('return document.getElementById("auth").hidden'), true, 'no token asked for');
  return fresh;
}

/**
 * The hostile board's lines show in the ports panel as the characters it printed: no element,
 * script or alert comes of them.
 */
export async function hostileSerialIsText(s, portPath) {
  await openSettings(s);
  const linesShown = `return [...document.querySelectorAll('#ports .unparsed code')].map((c) => c.textContent);`;
  const check = async () => {
    const made = await s.exec('return [...document.querySelectorAll("#ports img, #ports script, #ports svg, #ports iframe, #ports [onerror], #ports [onload]")].map((e) => e.outerHTML)');
    assert.deepEqual(made, [], 'no element was made from a serial line');
    assert.equal(await s.exec('return typeof window.__pwned'), 'undefined', 'no script ran');
    assert.equal(await s.alertText(), null, 'no alert opened');
  };
  await waitFor('the unparsed lines', async () => (await s.exec('return document.querySelectorAll("#ports .unparsed li").length')) >= HOSTILE_LINES.length);
  assert.ok((await s.exec('return document.getElementById("ports").textContent')).includes(portPath));
  await check();
  // The panel is redrawn every 2 s, so a found element may be gone by the click: retry.
  const isOpen = 'return document.querySelector("#ports details")?.open === true';
  await waitFor('the unparsed lines to open', async () => {
    if (!(await s.exec(isOpen))) await s.click(await s.find('#ports details summary'));
    return s.exec(isOpen);
  });
  const shown = await waitFor('every hostile line', async () => {
    const lines = await s.exec(linesShown);
    return HOSTILE_LINES.every((l) => lines.includes(l)) ? lines : null;
  });
  assert.ok(shown.every((l) => HOSTILE_LINES.includes(l)), JSON.stringify(shown));
  await check();
  // The list is redrawn every 2 s: the lines stay open and stay text.
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(await s.exec(isOpen), true, 'the opened list stays open');
  const again = await s.exec(linesShown);
  assert.ok(HOSTILE_LINES.some((l) => again.includes(l)), JSON.stringify(again));
  await check();
  await closeSettings(s);
}

const el = (e) => ({ 'element-6066-11e4-a52e-4f735466cecf': e });

/** Clicks `css` after scrolling it to the middle of the window, clear of the sticky top bar. */
async function press(s, css) {
  const e = await s.find(css);
  await s.exec('arguments[0].scrollIntoView({ block: "center" })', [el(e)]);
  await s.click(e);
}

/** The comparison panel's state: the chart's lines by colour, its texts (the legend is among
 * them) with the colour they are drawn in, and the sensors compared. */
const compareState = `
  const panel = document.getElementById('compare');
  const svg = panel.querySelector('#compare-art > svg');
  if (panel.hidden || !svg || svg.childElementCount === 0) return null;
  const colours = new Set([...svg.querySelectorAll('polyline')].map((p) => p.getAttribute('stroke')));
  return { sensors: panel.dataset.sensors, metric: panel.dataset.metric, colours: [...colours].sort(),
           texts: [...svg.querySelectorAll('text')].map((t) => t.textContent.trim()),
           inks: [...new Set([...svg.querySelectorAll('text')].map((t) => getComputedStyle(t).fill))],
           muted: getComputedStyle(document.documentElement).getPropertyValue('--muted').trim(),
           label: panel.querySelector('#compare-art').getAttribute('aria-label'),
           lists: panel.querySelectorAll('ul, ol').length,
           title: document.getElementById('compare-title').textContent,
           error: panel.classList.contains('error') };`;

/** Two rooms' histories, as the comparison tests use them. */
export async function compareHistories(port, token) {
  await post(port, token, history('living', 'Living room', 40, 21));
  await post(port, token, history('bedroom', 'Bedroom', 40, 17));
}

/**
 * Compared sensors the engine does not have (left from another database, or deleted elsewhere)
 * are forgotten when the page loads: eight of them would leave every Compare toggle disabled.
 */
export async function forgetsUnknownCompared(s) {
  const gone = JSON.stringify(Array.from({ length: 8 }, (_, i) => `gone-${i}`));
  await s.exec(`localStorage.setItem('clima.compare', arguments[0]); window.__beforeReload = true; setTimeout(() => location.reload(), 0);`, [gone]);
  await waitFor('the reloaded page', () => s.exec('return !window.__beforeReload && document.body.dataset.ready === "true"'), 60_000);
  assert.equal(await s.exec('return localStorage.getItem("clima.compare")'), '[]');
  const toggles = await s.exec('return [...document.querySelectorAll(".compare-toggle")].map((t) => ({ checked: t.checked, disabled: t.disabled }))');
  assert.ok(toggles.length > 0);
  assert.ok(toggles.every((t) => !t.checked && !t.disabled), JSON.stringify(toggles));
  assert.equal(await s.exec('return document.getElementById("compare").hidden'), true);
}

/**
 * Two rooms chosen with their cards' Compare toggles, clicked as a user does: one chart of their
 * temperatures, a line in its own colour each, a legend naming both, ranges that switch.
 */
export async function compareChart(s, port, token) {
  await compareHistories(port, token);
  for (const id of ['living', 'bedroom']) {
    const toggle = `[data-sensor="${id}"] .compare-toggle`;
    await waitFor(`the ${id} card`, () => s.exec(`return !!document.querySelector('${toggle}')`));
    // A toggle already on (a choice the page kept from an earlier run) would be switched off.
    assert.equal(await s.exec(`return document.querySelector('${toggle}').checked`), false, `${id} is not compared yet`);
    await press(s, toggle);
    await waitFor(`${id} on the comparison`, () => s.exec(`return JSON.parse(localStorage.getItem('clima.compare')).includes('${id}')`));
  }
  const state = await waitFor('the comparison chart', async () => {
    const st = await s.exec(compareState);
    return st && st.colours.length >= 2 ? st : null;
  });
  assert.equal(state.error, false);
  assert.equal(state.sensors, 'living,bedroom');
  assert.equal(state.metric, 'temperature');
  assert.equal(state.title, 'Comparing 2 sensors');
  // One legend, in the chart (as in its exports): each room named once, nothing beside it.
  assert.equal(state.texts.filter((t) => t === 'Living room (living)').length, 1, state.texts.join('|'));
  assert.equal(state.texts.filter((t) => t === 'Bedroom (bedroom)').length, 1, state.texts.join('|'));
  assert.equal(state.lists, 0);
  assert.equal(state.label, 'Temperature of Living room, Bedroom');
  // Its text in the theme's muted colour (#677183 light, #9aa3b1 dark), not the export's grey.
  const hex = (rgb) => '#' + rgb.match(/\d+/g).map((n) => Number(n).toString(16).padStart(2, '0')).join('');
  assert.deepEqual(state.inks.map(hex), [state.muted]);
  assert.ok(state.colours.includes('#1F7AE0') && state.colours.includes('#E06C1F'), state.colours.join());
  // The card's toggle says it is on the comparison; clicking it did not select the card.
  assert.equal(await s.exec('return document.querySelector(\'[data-sensor="living"] .compare-toggle\').checked'), true);
  await press(s, '#compare-ranges button[data-range="1h"]');
  await waitFor('the 1 h comparison', async () =>
    (await s.exec('return document.querySelector(\'#compare-ranges [data-range="1h"]\').getAttribute("aria-pressed")')) === 'true' &&
    (await s.exec(compareState))?.colours.length >= 2,
  );
}

async function openMenu(s, id) {
  await press(s, `[data-sensor="${id}"] .card-menu`);
  await waitFor(`the menu of ${id}`, () => s.exec(`const d = document.getElementById('sensor-menu'); return d.open && d.dataset.menuSensor === '${id}';`));
}

const menuStatus = `const st = document.getElementById('sensor-menu-status');
  return st.dataset.state === 'done' || st.dataset.state === 'error' ? { state: st.dataset.state, text: st.textContent } : null;`;

async function closeMenu(s) {
  if (await s.exec('return document.getElementById("sensor-menu").open')) await s.click(await s.find('#sensor-menu-close'));
}

/**
 * A calibration set in the card's menu: the card shows the corrected value marked as
 * calibrated, and its derived dew point follows the corrected temperature.
 */
export async function calibratedCard(s) {
  const row = (metric) =>
    s.exec(`const el = document.querySelector('[data-sensor="kitchen"] [data-metric="${metric}"]');
      return el && { value: Number(el.querySelector('.value').textContent), calibrated: el.dataset.calibrated, mark: el.querySelector('.calibrated').textContent };`);
  const before = await row('temperature');
  const dewBefore = await row('dew_point');
  assert.equal(before.calibrated, 'false');
  await openMenu(s, 'kitchen');
  await s.exec(`document.querySelector('#sensor-menu form.calibration[data-metric="temperature"] .offset').value = '-1.5';`);
  await s.click(await s.find('#sensor-menu form.calibration[data-metric="temperature"] button[type="submit"]'));
  const said = await waitFor('the calibration to be saved', () => s.exec(menuStatus));
  assert.deepEqual(said, { state: 'done', text: 'Temperature: offset -1.5, scale 1' });
  await closeMenu(s);
  const after = await waitFor('the calibrated card', async () => {
    const r = await row('temperature');
    return r.calibrated === 'true' ? r : null;
  });
  assert.ok(Math.abs(after.value - (before.value - 1.5)) <= 0.11, `${before.value} → ${after.value}`);
  assert.equal(after.mark, 'calibrated');
  const dewAfter = await row('dew_point');
  assert.ok(dewAfter.value < dewBefore.value, `dew point ${dewBefore.value} → ${dewAfter.value}`);
  // Offset 0 and scale 1 remove it: the stored values show again.
  await openMenu(s, 'kitchen');
  await s.exec(`document.querySelector('#sensor-menu form.calibration[data-metric="temperature"] .offset').value = '0';`);
  await s.click(await s.find('#sensor-menu form.calibration[data-metric="temperature"] button[type="submit"]'));
  await waitFor('the calibration to be removed', () => s.exec(menuStatus));
  await closeMenu(s);
  const back = await waitFor('the uncalibrated card', async () => {
    const r = await row('temperature');
    return r.calibrated === 'false' ? r : null;
  });
  assert.equal(back.value, before.value);
  assert.equal((await row('dew_point')).value, dewBefore.value);
}

/**
 * A board whose id changed: its old sensor's history merged into the new one from the old
 * card's menu, after a confirmation. The old card goes, and the new sensor holds both.
 */
export async function mergedHistory(s, port, token) {
  const now = Date.now();
  const old = Array.from({ length: 30 }, (_, i) => ({ sensor: 'living-old', measured_at: now - 3 * 3_600_000 + i * 60_000, temperature: 20 + i / 10 }));
  await post(port, token, old);
  const count = async (sensor) => {
    const r = await fetch(`http://127.0.0.1:${port}/api/v1/readings?sensor=${sensor}&metric=temperature&from=${now - 4 * 3_600_000}&to=${now + 60_000}&points=1`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    return (await r.json()).points.reduce((n, p) => n + p.count, 0);
  };
  const before = await count('living');
  await waitFor('the old card', () => s.exec('return !!document.querySelector(\'[data-sensor="living-old"]\')'));
  await openMenu(s, 'living-old');
  await s.exec(`document.getElementById('menu-merge-into').value = 'living';`);
  await s.click(await s.find('#menu-merge'));
  const question = await waitFor('the merge question', () => s.exec('const b = document.getElementById("menu-merge-confirm"); return b && b.parentElement.querySelector("p").textContent;'));
  assert.match(question, /^Move every reading of living-old into living and remove living-old\?/);
  await s.click(await s.find('#menu-merge-confirm'));
  const said = await waitFor('the merge', () => s.exec(menuStatus));
  assert.deepEqual(said, { state: 'done', text: 'Merged: 30 readings moved, 0 already there, 0 conflicting' });
  await closeMenu(s);
  await waitFor('the old card to go', () => s.exec('return !document.querySelector(\'[data-sensor="living-old"]\')'));
  assert.equal(await count('living'), before + 30);
}

/** Deleting a sensor from its menu needs its id typed; then its card and data are gone. */
export async function deleteWithConfirmation(s, port, token) {
  await post(port, token, { sensor: 'junk', temperature: 5 });
  await waitFor('the junk card', () => s.exec('return !!document.querySelector(\'[data-sensor="junk"]\')'));
  await openMenu(s, 'junk');
  await s.click(await s.find('#menu-delete'));
  const confirm = await s.find('#menu-delete-confirm');
  assert.equal(await s.exec('return arguments[0].disabled', [el(confirm)]), true);
  await s.exec(`const i = document.getElementById('menu-delete-id'); i.value = 'junk'; i.dispatchEvent(new Event('input'));`);
  assert.equal(await s.exec('return arguments[0].disabled', [el(confirm)]), false);
  await s.click(confirm);
  await waitFor('the junk card to go', () => s.exec('return !document.querySelector(\'[data-sensor="junk"]\')'));
  const r = await fetch(`http://127.0.0.1:${port}/api/v1/readings?sensor=junk&metric=temperature`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(r.status, 404);
}
