// Desktop soak (BENCHMARKS.md, "Desktop app: memory over half an hour"): the `clima` window under
// Xvfb, driven by tauri-driver so the page can be checked, with 10 sensors posting temperature
// and humidity once a second and a burst of 500 readings every minute. Each minute it sums
// `Pss:` from /proc/PID/smaps_rollup over `clima` and its WebKit processes, then prints the table
// and the slope (least squares) after the warm-up. Only the public HTTP API and the CLI flags
// are used. Run under Xvfb:
//   xvfb-run -a -s "-screen 0 1280x800x24" node bench/soak.mjs target/release/clima
// Knobs (environment): SOAK_MINUTES=30, SOAK_WARMUP=2, SOAK_SAMPLE_S=60 (the table shows whole
// minutes; the slope uses every sample), SOAK_PREFILL_H=3 (hours of 1 Hz history posted before
// the soak, as a monitor that has run for a while holds; 0 for none), SOAK_PORT=18560,
// SOAK_DRIVER_PORT=4460, SOAK_JSON=file (writes the samples).
// Exit status: 0, or 1 when the page stopped drawing charts or the load was refused.

import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Session, waitFor } from '../e2e/webdriver.mjs';
import { appEnv, start, tempDir, waitForPort, waitForTauriDriver } from '../e2e/util.mjs';

export const SENSORS = 10;
export const BURST = 500;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The process and all its descendants, from /proc. */
function tree(root) {
  const parents = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
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

/** The pid of the process running `exe` among `root`'s descendants, or null. */
function findExe(root, exe) {
  for (const pid of tree(root)) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] === exe) return pid;
    } catch {
      // Gone meanwhile.
    }
  }
  return null;
}

/**
 * PSS in KiB of `clima` and each process under it, by kind (clima, web, network, other), their
 * total, the anonymous part of the total (`Pss_Anon`: heaps, not shared libraries, so it does
 * not move when another WebKit program starts or ends on the machine), and `own`, the part not
 * backed by a file on disk (`Pss_Anon` and `Pss_Shmem`, the shared memory between the app's
 * processes): what a leak grows.
 */
export function pss(appPid) {
  const out = { clima: 0, web: 0, network: 0, other: 0, anon: 0, own: 0 };
  for (const pid of tree(appPid)) {
    let rollup;
    let comm;
    try {
      rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    const kb = Number(rollup.match(/^Pss:\s+(\d+) kB/m)?.[1] ?? 0);
    const kind = pid === appPid ? 'clima' : comm.startsWith('WebKitWebProc') ? 'web' : comm.startsWith('WebKitNetwork') ? 'network' : 'other';
    out[kind] += kb;
    const anon = Number(rollup.match(/^Pss_Anon:\s+(\d+) kB/m)?.[1] ?? 0);
    out.anon += anon;
    out.own += anon + Number(rollup.match(/^Pss_Shmem:\s+(\d+) kB/m)?.[1] ?? 0);
  }
  out.total = out.clima + out.web + out.network + out.other;
  return out;
}

/** Least-squares slope of `ys` over `xs` (units of y per unit of x). */
export function slope(xs, ys) {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return num / den;
}

/**
 * POSTs `body` to /api/v1/readings from `localAddress`: the reply's status, or the error message
 * when there was no reply (10 s at most).
 */
function postReadings(port, token, localAddress, agent, body) {
  return new Promise((resolve) => {
    const data = JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1', port, path: '/api/v1/readings', method: 'POST', localAddress, agent, timeout: 10_000,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data), Authorization: `Bearer ${token}` },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => resolve(e.message));
    req.end(data);
  });
}

/**
 * What a monitor that has run for a while holds: the last `hours` of the SENSORS rooms at 1 Hz,
 * posted as one batch per sensor and hour, before the soak starts.
 */
async function prefill(port, token, hours) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const now = Date.now();
  try {
    for (let i = 0; i < SENSORS; i++) {
      for (let hr = hours; hr > 0; hr--) {
        const from = now - hr * 3_600_000;
        const readings = Array.from({ length: 3600 }, (_, k) => ({
          sensor: `room-${i}`, name: `Room ${i}`, measured_at: from + k * 1000 + 500,
          temperature: Number((20 + i / 2 + Math.sin((from / 1000 + k) / 3600)).toFixed(2)),
          humidity: Number((40 + i + 3 * Math.cos((from / 1000 + k) / 5400)).toFixed(2)),
        }));
        const status = await postReadings(port, token, '127.0.0.9', agent, readings);
        if (status !== 201) throw new Error(`prefilling the history was refused: ${status}`);
      }
    }
  } finally {
    agent.destroy();
  }
}

/**
 * The load: SENSORS devices, each from its own loopback address (so the per-address rate limit
 * sees devices, not one client), posting one reading a second, and one batch of BURST readings
 * a minute (50 per sensor, spread over the past minute), until `until`. Bounded by time.
 */
function load(port, token, deadline) {
  const stats = { posted: 0, refused: 0, failed: 0, lastError: null };
  let until = deadline;
  /** Waits until `t`, or less if the load is stopped meanwhile. */
  const waitUntil = async (t) => {
    while (Date.now() < Math.min(t, until)) await sleep(Math.min(250, Math.min(t, until) - Date.now()));
  };
  const send = async (localAddress, agent, body) => {
    const status = await postReadings(port, token, localAddress, agent, body);
    if (status === 201) stats.posted++;
    else if (typeof status === 'number') {
      stats.refused++;
      stats.lastError = `HTTP ${status}`;
    } else {
      stats.failed++;
      stats.lastError = status;
    }
  };
  const sensor = async (i) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const from = `127.0.0.${11 + i}`;
    // Devices are not in step: each starts at its own offset within the second.
    await waitUntil(Date.now() + i * 97);
    for (let s = 0; Date.now() < until; s++) {
      const tick = Date.now();
      await send(from, agent, {
        sensor: `room-${i}`, name: `Room ${i}`,
        temperature: Number((20 + i / 2 + Math.sin(s / 60) + Math.random() / 10).toFixed(2)),
        humidity: Number((40 + i + 3 * Math.cos(s / 90) + Math.random() / 5).toFixed(2)),
      });
      await waitUntil(tick + 1000);
    }
    agent.destroy();
  };
  const burst = async () => {
    const agent = new http.Agent({ keepAlive: false });
    for (let k = 0; Date.now() < until; k++) {
      const tick = Date.now();
      // Mid-minute, away from the per-minute samples: a board uploading what it buffered over
      // the past minute, 50 readings per sensor.
      await waitUntil(tick + 30_000);
      if (Date.now() >= until) break;
      const now = Date.now();
      const readings = Array.from({ length: BURST }, (_, j) => {
        const i = j % SENSORS;
        const n = Math.floor(j / SENSORS);
        return {
          sensor: `room-${i}`, name: `Room ${i}`, measured_at: now - 60_000 + n * 1_187 + 123,
          temperature: Number((20 + i / 2 + Math.sin(n / 7)).toFixed(2)),
          humidity: Number((40 + i + Math.cos(n / 9)).toFixed(2)),
        };
      });
      await send('127.0.0.10', agent, readings);
      await waitUntil(tick + 60_000);
    }
  };
  const done = Promise.all([...Array.from({ length: SENSORS }, (_, i) => sensor(i)), burst()]);
  return {
    stats,
    /** Stops the load (no request starts after this) and waits for the last replies. */
    stop: () => {
      until = 0;
      return done;
    },
  };
}

/** What the page shows: the selected sensor's charts and how many readings they hold. */
const PAGE_STATE = `
  const figs = [...document.querySelectorAll('#chart-list figure')];
  return { title: document.getElementById('chart-title').textContent,
           charts: figs.map((f) => ({ metric: f.dataset.metric, points: Number(f.dataset.points || 0), error: f.classList.contains('error') })),
           nodes: document.getElementsByTagName('*').length };`;

/**
 * Runs the soak: returns `{ samples: [{minute, clima, web, network, other, total, page}],
 * slopeMiBh, warmup, final, stats }`; PSS in KiB. `log` gets one line per minute.
 */
export async function soak({ app, minutes = 30, warmup = 2, sampleSeconds = 60, prefillHours = 3, port = 18560, driverPort = 4460, log = console.log }) {
  const token = 'soak-token-0123456789';
  const dir = tempDir('clima-soak-');
  // A profile of its own: the page's kept choices (range, selected sensor) start from defaults.
  const env = appEnv(dir.path);
  delete env.CLIMA_TOKEN;
  const driver = start('tauri-driver', ['--port', String(driverPort), '--native-port', String(driverPort + 1)], { env });
  let session;
  let traffic;
  try {
    await waitForTauriDriver(driverPort);
    session = await Session.create(`http://127.0.0.1:${driverPort}`, {
      'tauri:options': { application: app, args: ['--db', path.join(dir.path, 'clima.db'), '--listen', `127.0.0.1:${port}`, '--token', token, '--serial', 'off'] },
    });
    await waitForPort(port);
    const appPid = await waitFor('the app process', async () => findExe(driver.child.pid, app), 20_000);
    await waitFor('the dashboard to load', () => session.exec('return document.body.dataset.ready === "true"'), 60_000);
    if (prefillHours > 0) await prefill(port, token, prefillHours);

    const started = Date.now();
    traffic = load(port, token, started + minutes * 60_000 + 30_000);
    // The page selects the first sensor by itself: its two charts must be drawn.
    await waitFor('the charts', async () => {
      const st = await session.exec(PAGE_STATE);
      return st.charts.length >= 2 && st.charts.every((c) => c.points > 0);
    }, 60_000);

    const samples = [];
    const perMinute = Math.max(1, Math.round(60 / sampleSeconds));
    for (let k = 0; k <= minutes * perMinute; k++) {
      const minute = k / perMinute;
      await sleep(Math.max(0, started + minute * 60_000 - Date.now()));
      const mem = pss(appPid);
      const whole = k % perMinute === 0;
      const page = whole ? await session.exec(PAGE_STATE).catch((e) => ({ error: e.message })) : null;
      samples.push({ minute, whole, ...mem, page });
      if (!whole) continue;
      const mib = (kb) => (kb / 1024).toFixed(1).padStart(6);
      log(`minute ${String(minute).padStart(2)}  total ${mib(mem.total)} MiB  anon ${mib(mem.anon)}  clima ${mib(mem.clima)}  web ${mib(mem.web)}  network ${mib(mem.network)}` +
        `  charted ${page.charts?.map((c) => c.points).join('/') ?? page.error}  nodes ${page.nodes ?? '?'}  posted ${traffic.stats.posted}`);
    }
    await traffic.stop();
    const after = samples.filter((s) => s.minute >= warmup);
    const perHour = (key) => (slope(after.map((s) => s.minute), after.map((s) => s[key] / 1024)) * 60);
    const result = {
      samples, warmup, minutes,
      slopeMiBh: perHour('total'),
      slopeByKind: { clima: perHour('clima'), web: perHour('web'), network: perHour('network'), anon: perHour('anon'), own: perHour('own') },
      final: samples[samples.length - 1],
      stats: traffic.stats,
    };
    // The charts kept being redrawn: what they hold changed from minute to minute.
    const counts = samples.filter((x) => x.whole).map((x) => x.page?.charts?.[0]?.points ?? 0);
    result.chartsFollowed = counts.every((n) => n > 0) && new Set(counts).size > counts.length / 2;
    return result;
  } finally {
    if (traffic) await traffic.stop();
    if (session) await session.quit().catch(() => {});
    await driver.stop();
    dir.remove();
  }
}

/** The per-minute table (Markdown) and the summary line. */
export function report(r) {
  const mib = (kb) => (kb / 1024).toFixed(0);
  const lines = ['| minute | clima | WebKitWebProcess | WebKitNetworkProcess | total PSS | of which anonymous |', '|---:|---:|---:|---:|---:|---:|'];
  for (const s of r.samples.filter((x) => x.whole)) lines.push(`| ${s.minute} | ${mib(s.clima)} | ${mib(s.web)} | ${mib(s.network)} | **${mib(s.total)}** | ${mib(s.anon)} |`);
  lines.push('');
  const every = r.samples.length > 1 ? Math.round((r.samples[1].minute - r.samples[0].minute) * 60) : 60;
  lines.push(`slope after the ${r.warmup}-minute warm-up (least squares over a sample every ${every} s): ${r.slopeMiBh.toFixed(1)} MiB/h total ` +
    `(clima ${r.slopeByKind.clima.toFixed(1)}, web ${r.slopeByKind.web.toFixed(1)}, network ${r.slopeByKind.network.toFixed(1)}; ` +
    `anonymous ${r.slopeByKind.anon.toFixed(1)}); ` +
    `final total ${mib(r.final.total)} MiB; ${r.stats.posted} posts accepted, ${r.stats.refused} refused, ${r.stats.failed} failed`);
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const app = path.resolve(process.argv[2] ?? 'target/release/clima');
  if (!process.env.DISPLAY) {
    console.error('needs a display: xvfb-run -a -s "-screen 0 1280x800x24" node bench/soak.mjs PATH/TO/clima');
    process.exit(2);
  }
  const r = await soak({
    app,
    minutes: Number(process.env.SOAK_MINUTES ?? 30),
    warmup: Number(process.env.SOAK_WARMUP ?? 2),
    sampleSeconds: Number(process.env.SOAK_SAMPLE_S ?? 60),
    prefillHours: Number(process.env.SOAK_PREFILL_H ?? 3),
    port: Number(process.env.SOAK_PORT ?? 18560),
    driverPort: Number(process.env.SOAK_DRIVER_PORT ?? 4460),
  });
  console.log(`\n${report(r)}`);
  if (process.env.SOAK_JSON) writeFileSync(process.env.SOAK_JSON, JSON.stringify(r, null, 1));
  const ok = r.chartsFollowed && r.stats.refused === 0 && r.stats.failed === 0;
  if (!ok) console.error(`the run is not valid: charts followed ${r.chartsFollowed}, ${r.stats.refused} refused, ${r.stats.failed} failed (${r.stats.lastError})`);
  process.exit(ok ? 0 : 1);
}
