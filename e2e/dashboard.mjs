// The dashboard checks both end-to-end tests run, against the desktop window and against a
// browser: readings posted over HTTP show on a card and in a chart, ranges switch, settings
// open, and a hostile sensor name stays text.

import assert from 'node:assert/strict';
import { waitFor } from './webdriver.mjs';
import { HOSTILE, history, post } from './util.mjs';

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
  assert.match(age, /just now|\d+ s ago/);
  const unit = await s.exec('return document.querySelector(\'[data-sensor="kitchen"] [data-metric="temperature"] .unit\').textContent');
  assert.equal(unit, '°C');
}

const chartState = (metric) => `
  const fig = document.querySelector('#chart-list figure[data-metric="${metric}"]');
  if (!fig) return null;
  const img = fig.querySelector('img');
  return { range: fig.dataset.range || null, points: Number(fig.dataset.points || 0),
           loaded: !!img.src && img.src.startsWith('data:image/svg+xml') && img.complete && img.naturalWidth > 0,
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
    const img = fig.querySelector('img');
    const box = img.getBoundingClientRect();
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

export async function settingsOpen(s, token, address) {
  await s.click(await s.find('#open-settings'));
  await waitFor('the settings panel', () => s.exec('return !document.getElementById("settings").hidden'));
  const tokenText = await waitFor('the token', () =>
    s.exec('const el = document.querySelector(\'[data-fact="token"]\'); return el && el.textContent;'),
  );
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
  assert.match(ports, /serial/i);
  // °F applies to cards at once.
  await s.click(await s.find('input[name="temp-unit"][value="F"]'));
  await waitFor('°F on the card', async () =>
    (await s.exec('return document.querySelector(\'[data-sensor="kitchen"] [data-metric="temperature"] .unit\').textContent')) === '°F',
  );
  await s.click(await s.find('input[name="temp-unit"][value="C"]'));
  await s.click(await s.find('#close-settings'));
  await waitFor('the settings panel to close', () => s.exec('return document.getElementById("settings").hidden'));
}
