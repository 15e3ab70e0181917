// How long a sensor merge (POST /api/v1/sensors/merge) keeps ingest waiting: a real
// clima-server on a fresh database, a history of DAYS days at one reading a minute (temperature
// and humidity; Clima derives dew point and absolute humidity, so four series) posted under an
// old id, then the merge into a new id while a probe posts one reading every 50 ms to a third
// sensor and times each answer. Prints the merge's duration and the probe's latencies before
// and during the merge.
//   node bench/merge.mjs [DAYS]        (after cargo build -p clima-server; CLIMA_SERVER=... for another build)

import path from 'node:path';
import { TARGET, start, tempDir, waitForPort } from '../e2e/util.mjs';

const DAYS = Number(process.argv[2] ?? 30);
const SERVER = process.env.CLIMA_SERVER || path.join(TARGET, 'debug', 'clima-server');
const PORT = Number(process.env.MERGE_PORT ?? 18571);
const TOKEN = 'merge-bench-token';
const BATCH = 4000;
const base = `http://127.0.0.1:${PORT}`;

async function post(route, body) {
  const r = await fetch(base + route, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${route}: ${r.status} ${text.slice(0, 200)}`);
  return JSON.parse(text || 'null');
}

const pct = (xs, p) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const summary = (xs) => `n=${xs.length} median=${pct(xs, 50).toFixed(1)} ms p99=${pct(xs, 99).toFixed(1)} ms max=${Math.max(...xs).toFixed(1)} ms`;

/** Posts one reading every 50 ms until stopped; returns each answer's latency. */
function probe() {
  const latencies = [];
  let running = true;
  const done = (async () => {
    let i = 0;
    while (running) {
      const t = performance.now();
      await post('/api/v1/readings', { sensor: 'probe', temperature: 20 + (i++ % 10) / 10 });
      latencies.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return { latencies, stop: async () => { running = false; await done; return latencies; } };
}

const dir = tempDir('clima-bench-merge-');
const server = start(SERVER, ['--db', path.join(dir.path, 'clima.db'), '--listen', `127.0.0.1:${PORT}`, '--token', TOKEN, '--serial', 'off', '--keep-raw', 'forever']);
try {
  await waitForPort(PORT);
  const now = Date.now();
  const minutes = DAYS * 1440;
  const t0 = performance.now();
  for (let i = 0; i < minutes; i += BATCH) {
    const items = [];
    for (let j = i; j < Math.min(minutes, i + BATCH); j++) {
      items.push({ sensor: 'old-board', measured_at: now - (minutes - j) * 60_000, temperature: 20 + Math.sin(j / 90), humidity: 45 + 5 * Math.cos(j / 200) });
    }
    await post('/api/v1/readings', items);
  }
  await post('/api/v1/readings', { sensor: 'new-board', temperature: 21, humidity: 44 });
  console.log(`history: ${minutes} readings of old-board (${DAYS} d at 60 s) posted in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const idle = probe();
  await new Promise((r) => setTimeout(r, 3000));
  const before = await idle.stop();

  const during = probe();
  const m0 = performance.now();
  const outcome = await post('/api/v1/sensors/merge', { from: 'old-board', into: 'new-board' });
  const mergeMs = performance.now() - m0;
  const busy = await during.stop();
  console.log(`merge: ${outcome.accepted} samples moved, ${outcome.duplicates} duplicates, ${outcome.conflicts} conflicts in ${(mergeMs / 1000).toFixed(2)} s`);
  console.log(`probe before the merge: ${summary(before)}`);
  console.log(`probe during the merge: ${summary(busy)}`);
} finally {
  await server.stop();
  dir.remove();
}
