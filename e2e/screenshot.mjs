// Takes the README's screenshot of the real desktop window: starts `clima` through tauri-driver
// with a fresh database, fills it with a day of readings from four rooms, opens the 24 h charts
// and captures the X screen. Run under Xvfb with a screen the size of the window:
//   xvfb-run -a -s "-screen 0 1100x760x24" node e2e/screenshot.mjs docs/screenshot.png
// GTK_THEME=Adwaita:dark in front gives the dark theme.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Session, waitFor } from './webdriver.mjs';
import { TARGET, appEnv, post, start, tempDir, waitForPort, waitForTauriDriver } from './util.mjs';

const out = path.resolve(process.argv[2] ?? 'screenshot.png');
const APP = path.join(TARGET, 'debug', 'clima');
const PORT = 18539;
const TOKEN = 'screenshot-token';
const MIN = 60_000;

/** A day of readings every `every` minutes, with a daily swing, noise and an optional outage. */
function day(sensor, name, every, shape, outage) {
  const now = Date.now();
  const readings = [];
  for (let t = now - 24 * 60 * MIN; t < now - 30_000; t += every * MIN) {
    if (outage && t > now - outage[0] * MIN && t < now - outage[1] * MIN) continue;
    const hour = ((t / 3_600_000) % 24 + 24) % 24;
    readings.push({ sensor, name, measured_at: Math.round(t), ...shape(hour, Math.random() - 0.5) });
  }
  return readings;
}

const rooms = [
  day('living-room', 'Living room', 2, (h, r) => ({
    temperature: 20.5 + 1.6 * Math.sin(((h - 9) / 24) * 2 * Math.PI) + 0.15 * r,
    humidity: 46 - 4 * Math.sin(((h - 9) / 24) * 2 * Math.PI) + r,
    co2: 520 + (h > 17 && h < 23 ? 380 : 60) + 40 * r,
  })),
  day('bedroom', 'Bedroom', 5, (h, r) => ({
    temperature: 18.6 + 1.1 * Math.sin(((h - 11) / 24) * 2 * Math.PI) + 0.1 * r,
    humidity: 52 + 3 * Math.cos((h / 24) * 2 * Math.PI) + r,
  })),
  day('attic', 'Attic', 5, (h, r) => ({
    temperature: 14 + 6 * Math.sin(((h - 8) / 24) * 2 * Math.PI) + 0.3 * r,
    humidity: 60 - 8 * Math.sin(((h - 8) / 24) * 2 * Math.PI) + 2 * r,
    pressure: 1013 + 3 * Math.sin(h / 5) + 0.2 * r,
  })),
  day('server-rack', 'Server rack', 1, (h, r) => ({ temperature: 27 + 1.5 * Math.sin(h / 3) + 0.4 * r }), [9 * 60, 7 * 60]),
];

const dir = tempDir('clima-screenshot-');
const driver = start('tauri-driver', ['--port', '4444'], { env: appEnv(dir.path) });
let session;
try {
  await waitForTauriDriver(4444);
  session = await Session.create('http://127.0.0.1:4444', {
    'tauri:options': {
      application: APP,
      args: ['--db', path.join(dir.path, 'clima.db'), '--listen', `127.0.0.1:${PORT}`, '--token', TOKEN, '--serial', 'off'],
    },
  });
  await waitForPort(PORT);
  for (const readings of rooms) {
    for (let i = 0; i < readings.length; i += 5000) await post(PORT, TOKEN, readings.slice(i, i + 5000));
  }
  await waitFor('four cards', async () => (await session.exec('return document.querySelectorAll(".card").length')) === 4);
  await session.click(await session.find('[data-sensor="living-room"]'));
  await session.click(await session.find('#ranges button[data-range="24h"]'));
  await waitFor('the charts', () =>
    session.exec(`return [...document.querySelectorAll('#chart-list figure')].every((f) => f.dataset.range === '24h' && f.querySelector('.chart-art > svg'))`),
  );
  // A live reading, then the pointer over the temperature chart.
  await post(PORT, TOKEN, { sensor: 'living-room', temperature: 21.9, humidity: 44.1, co2: 812 });
  await new Promise((r) => setTimeout(r, 3000));
  await session.exec('window.scrollTo(0, 0)');
  // Move the real pointer (a synthetic event would be undone by the real pointer's position).
  const img = await session.find('#chart-list figure[data-metric="temperature"] .chart-art');
  const width = await session.exec('return arguments[0].getBoundingClientRect().width', [{ 'element-6066-11e4-a52e-4f735466cecf': img }]);
  await session.cmd('POST', '/actions', {
    actions: [{ type: 'pointer', id: 'mouse', parameters: { pointerType: 'mouse' }, actions: [{ type: 'pointerMove', duration: 0, origin: { 'element-6066-11e4-a52e-4f735466cecf': img }, x: Math.round(width * 0.12), y: -30 }] }],
  });
  await new Promise((r) => setTimeout(r, 300));
  execFileSync('import', ['-window', 'root', out]);
  console.log(out);
} finally {
  if (session) await session.quit().catch(() => {});
  await driver.stop();
  dir.remove();
}
