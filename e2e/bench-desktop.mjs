// Desktop app benchmark (BENCHMARKS.md, "Desktop app"): time from launch to the first painted
// dashboard, and the memory (PSS) of the app with its WebKit processes after a minute of 10
// sensors reporting once a second. Run under Xvfb, with the binary to measure:
//   cargo build --release -p clima-desktop
//   xvfb-run -a -s "-screen 0 1100x760x24" node e2e/bench-desktop.mjs target/release/clima

import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { post, start, tempDir, waitForPort } from './util.mjs';

const APP = path.resolve(process.argv[2] ?? 'target/release/clima');
const PORT = 18540;
const TOKEN = 'bench-desktop-token';
const LAUNCHES = Number(process.env.LAUNCHES ?? 5);
const SOAK_S = Number(process.env.SOAK_S ?? 60);
const SENSORS = 10;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function launch(db) {
  return start(APP, ['--db', db, '--listen', `127.0.0.1:${PORT}`, '--token', TOKEN, '--serial', 'off'], {
    env: { ...process.env, RUST_LOG: 'info' },
  });
}

/** Waits for the app's "first dashboard painted" line; returns [wall ms since spawn, app's own ms]. */
async function firstPaint(app, spawnedAt) {
  for (;;) {
    const m = app.output().replace(/\x1b\[[0-9;]*m/g, '').match(/first dashboard painted ms=(\d+)/);
    if (m) return [Date.now() - spawnedAt, Number(m[1])];
    if (Date.now() - spawnedAt > 60_000) throw new Error(`no first paint in 60 s:\n${app.output()}`);
    await sleep(5);
  }
}

/** The process and all its descendants, from /proc. */
function tree(root) {
  const parents = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(name), ppid);
    } catch {
      // Gone meanwhile.
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) {
    for (const [pid, ppid] of parents) if (ppid === out[i]) out.push(pid);
  }
  return out;
}

function memory(pid) {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (key) => Number(rollup.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0);
  const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  return { pid, comm, pss: kb('Pss'), rss: kb('Rss') };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dir = tempDir('clima-bench-desktop-');
try {
  // Launch to first paint, on a fresh database each time (the first-run path: a token is
  // generated, the page shows its help) and on one holding a day of 10 sensors.
  const launches = async (label, db) => {
    const walls = [];
    const owns = [];
    for (let i = 0; i < LAUNCHES; i++) {
      const spawnedAt = Date.now();
      const app = launch(db(i));
      const [wall, own] = await firstPaint(app, spawnedAt);
      walls.push(wall);
      owns.push(own);
      await app.stop();
      await sleep(500);
    }
    console.log(`launch to first painted dashboard, ${label}: median ${median(walls)} ms from spawn ` +
      `(${walls.join(', ')}), ${median(owns)} ms from main() (${owns.join(', ')})`);
  };
  await launches('first run', (i) => path.join(dir.path, `fresh-${i}.db`));
  const dayDb = path.join(dir.path, 'day.db');
  {
    const app = launch(dayDb);
    await waitForPort(PORT);
    const now = Date.now();
    for (let i = 0; i < SENSORS; i++) {
      const day = Array.from({ length: 1440 }, (_, m) => ({
        sensor: `room-${i}`, name: `Room ${i}`, measured_at: now - (1440 - m) * 60_000,
        temperature: 20 + Math.sin(m / 200), humidity: 45 + Math.cos(m / 300),
      }));
      await post(PORT, TOKEN, day);
    }
    await app.stop();
  }
  await launches(`${SENSORS} sensors with a day of readings`, () => dayDb);

  // A minute of 10 sensors at 1 Hz, the window showing the first sensor's charts.
  const app = launch(path.join(dir.path, 'soak.db'));
  await waitForPort(PORT);
  await firstPaint(app, Date.now());
  const started = Date.now();
  let sent = 0;
  for (let s = 0; s < SOAK_S; s++) {
    const tick = started + s * 1000;
    await Promise.all(
      Array.from({ length: SENSORS }, (_, i) =>
        post(PORT, TOKEN, { sensor: `room-${i}`, name: `Room ${i}`, temperature: 20 + i / 10 + Math.sin(s / 10), humidity: 40 + i + Math.cos(s / 7) }),
      ),
    );
    sent += SENSORS;
    await sleep(Math.max(0, tick + 1000 - Date.now()));
  }
  const procs = tree(app.child.pid).map(memory);
  const total = procs.reduce((a, p) => ({ pss: a.pss + p.pss, rss: a.rss + p.rss }), { pss: 0, rss: 0 });
  for (const p of procs) console.log(`  ${p.comm.padEnd(18)} PSS ${(p.pss / 1024).toFixed(1)} MiB  RSS ${(p.rss / 1024).toFixed(1)} MiB`);
  console.log(`after ${SOAK_S} s of ${SENSORS} sensors at 1 Hz (${sent} requests): PSS ${(total.pss / 1024).toFixed(0)} MiB, RSS ${(total.rss / 1024).toFixed(0)} MiB over ${procs.length} processes`);
  await app.stop();
} finally {
  dir.remove();
}
