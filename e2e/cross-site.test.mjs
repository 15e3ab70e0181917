// A web page on another origin, in a real browser (headless Chromium), tries to reach a Clima
// server that has no token on 127.0.0.1: fetches, a no-cors post, a form post, the demo board,
// and a page whose own domain resolves to 127.0.0.1 (DNS rebinding). Nothing may be stored,
// started or read. Fixed ports (9516, 18539, 18540): one run at a time.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { waitFor } from './webdriver.mjs';
import { ROOT, TARGET, start, startChromium, tempDir, waitForPort } from './util.mjs';

const SERVER = process.env.CLIMA_SERVER || path.join(TARGET, 'debug', 'clima-server');
const CLIMA_PORT = 18539;
const EVIL_PORT = 18540;
const DRIVER_PORT = 9516;
const clima = `http://127.0.0.1:${CLIMA_PORT}`;

/** The attacking page: every attempt reports how it ended into #results. */
const EVIL_PAGE = `<!doctype html><meta charset="utf-8"><title>evil</title>
<pre id="results"></pre>
<form id="form" method="post" action="${clima}/api/v1/push?id=evil-form&temp=66" target="sink"></form>
<iframe name="sink"></iframe>
<script>
const out = {};
async function attempt(name, f) {
  try { const r = await f(); out[name] = 'status ' + r.status + ' ' + (r.type || '') + ' ' + (await r.text().catch(() => '')); }
  catch (e) { out[name] = 'failed: ' + e.message; }
}
(async () => {
  await attempt('write', () => fetch('${clima}/write', { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: 'climate,sensor=evil-write temperature=66' }));
  await attempt('readings', () => fetch('${clima}/api/v1/readings', { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: '{"sensor":"evil-json","temperature":66}' }));
  await attempt('push', () => fetch('${clima}/api/v1/push?id=evil-push&temp=66', { method: 'POST', mode: 'no-cors' }));
  await attempt('demo', () => fetch('${clima}/api/v1/demo', { method: 'POST', mode: 'no-cors' }));
  await attempt('sensors', () => fetch('${clima}/api/v1/sensors'));
  document.getElementById('form').submit();
  await new Promise((r) => setTimeout(r, 500));
  out.done = true;
  document.getElementById('results').textContent = JSON.stringify(out);
})();
</script>`;

describe('a page on another origin', { timeout: 120_000 }, () => {
  let server;
  let driver;
  let evil;
  let session;
  let dir;

  before(async () => {
    assert.ok(existsSync(SERVER), `${SERVER} is missing: run cargo build -p clima-server first`);
    dir = tempDir('clima-e2e-cross-');
    server = start(SERVER, [
      '--db', path.join(dir.path, 'clima.db'), '--listen', `127.0.0.1:${CLIMA_PORT}`,
      '--ui', path.join(ROOT, 'ui'), '--serial', 'off',
    ]);
    evil = http.createServer((_, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(EVIL_PAGE);
    });
    await new Promise((r) => evil.listen(EVIL_PORT, '127.0.0.1', r));
    ({ driver, session } = await startChromium(dir.path, DRIVER_PORT, {
      // DNS rebinding, without DNS: these names resolve to this machine.
      args: ['--host-resolver-rules=MAP evil.test 127.0.0.1, MAP rebound.test 127.0.0.1'],
    }));
    await waitForPort(CLIMA_PORT);
  });

  after(async () => {
    if (session) await session.quit().catch(() => {});
    await driver?.stop();
    await server?.stop();
    await new Promise((r) => (evil ? evil.close(r) : r()));
    dir?.remove();
  });

  it('stores nothing, starts nothing and reads nothing', async () => {
    await session.navigate(`http://evil.test:${EVIL_PORT}/`);
    const text = await waitFor('the attacks to finish', async () => {
      const t = await session.text(await session.find('#results'));
      return t.includes('"done"') && t;
    });
    const results = JSON.parse(text);
    // A cross-origin read fails in the page; the no-cors writes are opaque to it.
    assert.match(results.sensors, /^failed/, text);
    const sensors = await (await fetch(`${clima}/api/v1/sensors`)).json();
    assert.deepEqual(sensors.sensors, [], `a foreign page stored readings: ${JSON.stringify(sensors)}`);
    const ports = await (await fetch(`${clima}/api/v1/ports`)).json();
    assert.deepEqual(ports.ports, [], 'a foreign page started the demo board');
  });

  it('refuses a page whose domain was re-pointed at this machine', async () => {
    // The dashboard under a foreign name: its page and its API are refused, so a script
    // served from that name can read nothing (same origin though it looks).
    await session.navigate(`http://rebound.test:${CLIMA_PORT}/`);
    const body = await session.text(await session.find('body'));
    assert.match(body, /host_not_allowed/, body);
    const read = await session.execAsync(`
      const done = arguments[arguments.length - 1];
      fetch('/api/v1/sensors').then((r) => r.text().then((t) => done(r.status + ' ' + t)), (e) => done('failed: ' + e.message));
    `);
    assert.match(read, /^421 /, read);
    // The same dashboard by its address works.
    await session.navigate(`${clima}/`);
    await waitFor('the dashboard', async () => (await session.find('#cards')) && true);
  });
});
