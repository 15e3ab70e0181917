// Takes the README's screenshots of the dashboard's comparison chart and of cards whose clocks
// disagree, from the web dashboard: `clima-server` with a fresh database, a day of readings
// from three rooms and three skewed sensors, headless Chromium through chromedriver, and
// WebDriver's element screenshots. Run after `cargo build -p clima-server`:
//   node e2e/screenshot-web.mjs docs
// (writes docs/compare.png and docs/skewed-cards.png; `--dark` for the dark theme).

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from './webdriver.mjs';
import { ROOT, TARGET, post, start, startChromium, tempDir, waitForPort } from './util.mjs';

const outDir = path.resolve(process.argv[2] ?? '.');
const dark = process.argv.includes('--dark');
const SERVER = process.env.CLIMA_SERVER || path.join(TARGET, 'debug', 'clima-server');
const PORT = 18541;
const DRIVER_PORT = 9517;
const TOKEN = 'screenshot-token';
const MIN = 60_000;

/** A day of readings every `every` minutes with a daily swing, noise and an optional outage. */
function day(sensor, name, every, base, swing, phase, outage) {
  const now = Date.now();
  const readings = [];
  for (let t = now - 24 * 60 * MIN; t < now - 30_000; t += every * MIN) {
    if (outage && t > now - outage[0] * MIN && t < now - outage[1] * MIN) continue;
    const hour = ((t / 3_600_000) % 24 + 24) % 24;
    const wave = Math.sin(((hour - phase) / 24) * 2 * Math.PI);
    readings.push({ sensor, name, measured_at: Math.round(t), temperature: base + swing * wave + 0.15 * (Math.random() - 0.5), humidity: 50 - 5 * wave });
  }
  return readings;
}

const dir = tempDir('clima-screenshot-web-');
const server = start(SERVER, ['--db', path.join(dir.path, 'clima.db'), '--listen', `127.0.0.1:${PORT}`, '--token', TOKEN, '--ui', path.join(ROOT, 'ui'), '--serial', 'off']);
let driver;
let session;
try {
  await waitForPort(PORT);
  ({ driver, session } = await startChromium(dir.path, DRIVER_PORT, {
    args: ['--window-size=1100,900', ...(dark ? ['--force-dark-mode', '--blink-settings=preferredColorScheme=0'] : [])],
  }));
  for (const readings of [
    day('living-room', 'Living room', 2, 20.5, 1.6, 9),
    day('bedroom', 'Bedroom', 5, 18.6, 1.1, 11, [9 * 60, 7 * 60]),
    day('attic', 'Attic', 5, 14, 6, 8),
  ]) {
    await post(PORT, TOKEN, readings);
  }
  const now = Date.now();
  await post(PORT, TOKEN, { sensor: 'hall', name: 'Hall', temperature: 19.2, humidity: 48, measured_at: now - 3 * 3_600_000 });
  await post(PORT, TOKEN, [0, 1, 2].map((i) => ({ sensor: 'cellar', name: 'Cellar', temperature: 12 + i / 10, humidity: 70, measured_at: now - 86_400_000 + i * MIN })));
  await post(PORT, TOKEN, { sensor: 'porch', name: 'Porch', temperature: 8.5, humidity: 81, measured_at: now + 30.5 * MIN });
  await session.navigate(`http://127.0.0.1:${PORT}/?token=${TOKEN}`);
  await waitFor('the dashboard', () => session.exec('return document.body.dataset.ready === "true" && document.querySelectorAll(".card").length === 6'), 60_000);
  for (const id of ['living-room', 'bedroom', 'attic']) await session.click(await session.find(`[data-sensor="${id}"] .compare-toggle`));
  await waitFor('the comparison', () =>
    session.exec('const svg = document.querySelector("#compare-art > svg"); return !document.getElementById("compare").hidden && svg && svg.querySelectorAll("polyline").length >= 3;'),
  );
  await new Promise((r) => setTimeout(r, 1000));
  const shoot = async (css, name) => {
    const el = await session.find(css);
    await session.exec('arguments[0].scrollIntoView({ block: "center" })', [{ 'element-6066-11e4-a52e-4f735466cecf': el }]);
    const png = Buffer.from(await session.cmd('GET', `/element/${el}/screenshot`), 'base64');
    const file = path.join(outDir, name);
    writeFileSync(file, png);
    console.log(file);
  };
  await shoot('#compare', 'compare.png');
  // The three skewed cards side by side: hide the others for the picture.
  await session.exec(`for (const c of document.querySelectorAll('.card')) c.style.display = ['hall', 'cellar', 'porch'].includes(c.dataset.sensor) ? '' : 'none';`);
  await new Promise((r) => setTimeout(r, 300));
  await shoot('#cards', 'skewed-cards.png');
} finally {
  if (session) await session.quit().catch(() => {});
  await driver?.stop();
  await server.stop();
  dir.remove();
}
