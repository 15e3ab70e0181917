// Takes the README's Alerts screenshot from the web dashboard: starts clima-server with a fresh
// database, posts the last three hours of three rooms (the bathroom damp for the last 40
// minutes, the server rack hot for the last 20), adds the mould-risk and server presets with
// shorter `for`s, and captures headless Chromium with the firing alerts on the cards and in the
// Alerts panel. After `cargo build -p clima-server`:
//   node e2e/screenshot-alerts.mjs docs/alerts.png

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from './webdriver.mjs';
import { ROOT, TARGET, post, start, startChromium, tempDir, waitForPort } from './util.mjs';

const out = path.resolve(process.argv[2] ?? 'alerts.png');
const SERVER = process.env.CLIMA_SERVER || path.join(TARGET, 'debug', 'clima-server');
const PORT = 18545;
const DRIVER_PORT = 9519;
const TOKEN = 'screenshot-token';
const MIN = 60_000;

/** Three hours of readings every 2 minutes, ending now. */
function hours(sensor, name, shape) {
  const now = Date.now();
  const readings = [];
  for (let ago = 180; ago >= 0; ago -= 2) {
    readings.push({ sensor, name, measured_at: now - ago * MIN, ...shape(ago, Math.random() - 0.5) });
  }
  return readings;
}

const rooms = [
  hours('bathroom', 'Bathroom', (ago, r) => ({
    temperature: 22.4 + 0.2 * r,
    humidity: ago > 45 ? 58 + 3 * Math.sin(ago / 20) + r : 74 + 2 * Math.sin(ago / 7) + r,
  })),
  hours('living-room', 'Living room', (ago, r) => ({ temperature: 21 + 0.6 * Math.sin(ago / 40) + 0.1 * r, humidity: 46 + r, co2: 640 + 60 * Math.sin(ago / 30) })),
  hours('server-rack', 'Server rack', (ago, r) => ({ temperature: ago > 25 ? 27.5 + 0.4 * r : 31.2 + 0.5 * Math.sin(ago / 5) + 0.2 * r })),
];

async function api(method, route, body) {
  const response = await fetch(`http://127.0.0.1:${PORT}${route}`, {
    method,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${await response.text()}`);
}

const dir = tempDir('clima-screenshot-alerts-');
const server = start(SERVER, ['--db', path.join(dir.path, 'clima.db'), '--listen', `127.0.0.1:${PORT}`, '--token', TOKEN, '--ui', path.join(ROOT, 'ui'), '--serial', 'off']);
let driver;
let session;
try {
  await waitForPort(PORT);
  await api('POST', '/api/v1/alerts/rules', { sensor: '*', metric: 'humidity', condition: 'above', threshold: 70, for: '30m', label: 'Mould risk' });
  await api('POST', '/api/v1/alerts/rules', { sensor: 'server-rack', metric: 'temperature', condition: 'above', threshold: 30, for: '5m', label: 'Too hot for servers' });
  for (const readings of rooms) await post(PORT, TOKEN, readings);
  ({ driver, session } = await startChromium(dir.path, DRIVER_PORT, { args: ['--window-size=1100,760', '--force-color-profile=srgb', '--hide-scrollbars'] }));
  await session.navigate(`http://127.0.0.1:${PORT}/?token=${TOKEN}`);
  await waitFor('three cards', async () => (await session.exec('return document.querySelectorAll(".card").length')) === 3, 60_000);
  await waitFor('two firing alerts', async () => (await session.exec('return document.querySelectorAll(".card.alerting").length')) === 2, 30_000);
  await session.click(await session.find('[data-sensor="bathroom"]'));
  await session.exec('document.getElementById("alerts-recent").open = true');
  // The charts draw, then the alerts panel comes first in view.
  await new Promise((r) => setTimeout(r, 2000));
  await session.exec('window.scrollTo(0, 0)');
  writeFileSync(out, await session.screenshot());
  console.log(out);
} finally {
  if (session) await session.quit().catch(() => {});
  await driver?.stop();
  await server.stop();
  dir.remove();
}
