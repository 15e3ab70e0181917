// The Linux packages as a user meets them: checks what the desktop .deb and .rpm and the server
// .deb hold, validates the desktop entry, AppStream metadata, udev rule and systemd unit,
// installs both .debs with dpkg, runs the installed `clima` as a non-root user with a fresh HOME
// under Xvfb (through tauri-driver), runs the installed `clima-server` with its unit's user,
// groups and arguments in a read-only file system, then removes both packages. Run by
// scripts/test-packages after scripts/package, as root (it installs packages and creates a user),
// under `xvfb-run -s "-ac"` (so the test user may use the display). Fixed ports: 4444, 4445
// (tauri-driver), 18541 (the app), 18542 (the server).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Session, waitFor } from './webdriver.mjs';
import { ROOT, TARGET, post, start, tempDir, waitForPort, waitForTauriDriver, waitForPortClosed } from './util.mjs';

const BUNDLE = path.join(TARGET, 'release', 'bundle');
const OUT = path.join(TARGET, 'package-test');
const APP_PORT = 18541;
const SERVER_PORT = 18542;
const DRIVER_PORT = 4444;
const TESTER = 'clima-tester';

const DESKTOP_FILES = {
  binary: '/usr/bin/clima',
  entry: '/usr/share/applications/Clima.desktop',
  metainfo: '/usr/share/metainfo/org.clima.desktop.metainfo.xml',
  udev: '/usr/lib/udev/rules.d/60-clima-serial.rules',
};
// The bundler names a high-density icon's folder by its pixels: 128x128@2x.png goes to 256x256@2.
const ICON_DIRS = ['16x16', '24x24', '32x32', '48x48', '64x64', '128x128', '256x256', '256x256@2', '512x512'];
const SERVER_FILES = {
  binary: '/usr/bin/clima-server',
  unit: '/usr/lib/systemd/system/clima-server.service',
  dashboard: '/usr/share/clima-server/ui/index.html',
};

/** Runs a program and returns its standard output; throws with its output when it fails. */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 300_000, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stdout}${r.stderr}${r.error ?? ''}`);
  return r.stdout;
}

/** The one file in `dir` whose name matches `pattern`. */
function bundle(dir, pattern) {
  const names = existsSync(path.join(BUNDLE, dir)) ? readdirSync(path.join(BUNDLE, dir)).filter((n) => pattern.test(n)) : [];
  assert.equal(names.length, 1, `one ${pattern} in ${path.join(BUNDLE, dir)} (run scripts/package), found: ${names.join(', ')}`);
  return path.join(BUNDLE, dir, names[0]);
}

/** A unit file's settings: each key with its values in order (keys may repeat). */
function unitSettings(text) {
  const settings = new Map();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) settings.set(m[1], [...(settings.get(m[1]) ?? []), m[2]]);
  }
  return settings;
}

/**
 * What udev says about a rules file: `udevadm verify` where it exists (systemd 254 and later),
 * else the parse errors `udevadm test` reports for it while loading every rules file (the file
 * is placed in /run/udev/rules.d for that, then removed).
 */
function udevProblems(file) {
  if (Number(run('udevadm', ['--version']).trim()) >= 254) {
    const r = spawnSync('udevadm', ['verify', file], { encoding: 'utf8' });
    return r.status === 0 ? [] : [`${r.stdout}${r.stderr}`];
  }
  const placed = path.join('/run/udev/rules.d', `59-clima-check-${path.basename(file)}`);
  mkdirSync(path.dirname(placed), { recursive: true });
  copyFileSync(file, placed);
  try {
    const r = spawnSync('udevadm', ['test', '--action=add', '/sys/class/tty/tty0'], { encoding: 'utf8' });
    return `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.startsWith(`${placed}:`));
  } finally {
    rmSync(placed, { force: true });
  }
}

describe('Linux packages', { timeout: 900_000 }, () => {
  let desktopDeb;
  let serverDeb;
  let rpm;
  let home;
  let driver;
  let bus;
  let session;
  let server;
  // Whether this run installed the packages, and so may remove them and their data.
  let installed = false;
  // The test user's environment: a fresh home, its own runtime folder and session bus.
  let testerEnv;
  const asTester = (cmd, args) => start('runuser', ['-u', TESTER, '--', 'env', ...testerEnv, cmd, ...args]);

  before(() => {
    assert.equal(process.getuid(), 0, 'installs packages and creates a user: run as root (scripts/test-packages)');
    assert.ok(process.env.DISPLAY, 'needs a display: run under xvfb-run -s "-ac"');
    desktopDeb = bundle('deb', /^Clima_.*\.deb$/);
    serverDeb = bundle('deb', /^clima-server_.*\.deb$/);
    rpm = bundle('rpm', /^Clima-.*\.rpm$/);
    mkdirSync(OUT, { recursive: true });
    // This test removes what it installs, data included: it must not meet a real installation.
    for (const p of ['clima', 'clima-server']) {
      assert.notEqual(spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' }).stdout, 'install ok installed', `${p} is installed: remove it first (dpkg -r ${p})`);
    }
    assert.ok(!existsSync('/var/lib/clima'), '/var/lib/clima exists (a server\'s data, or a run that was interrupted): move it away first');
  });

  after(async () => {
    if (session) await session.quit().catch(() => {});
    await driver?.stop();
    await bus?.stop();
    await server?.stop();
    if (installed) {
      spawnSync('dpkg', ['--purge', 'clima', 'clima-server']);
      spawnSync('userdel', ['clima']);
      rmSync('/var/lib/clima', { recursive: true, force: true });
    }
    if (home) spawnSync('userdel', [TESTER]);
    home?.remove();
  });

  it('the desktop .deb holds the stripped app, its entry, every icon, metainfo and the udev rule', () => {
    const files = run('dpkg-deb', ['--contents', desktopDeb]);
    // Paths are listed as usr/... or ./usr/..., depending on the tool that packed them.
    const holds = (f) => assert.match(files, new RegExp(` (\\./)?${f.slice(1)}\n`), f);
    for (const f of Object.values(DESKTOP_FILES)) holds(f);
    for (const size of ICON_DIRS) holds(`/usr/share/icons/hicolor/${size}/apps/clima.png`);
    const depends = run('dpkg-deb', ['--field', desktopDeb, 'Depends']);
    assert.match(depends, /libwebkit2gtk-4\.1-0/);
    assert.match(depends, /libgtk-3-0/);
    // The tray icon's library is loaded when present: without it, closing the window quits.
    assert.match(run('dpkg-deb', ['--field', desktopDeb, 'Recommends']), /libayatana-appindicator3-1/);
    const size = Number(/ (\d+) \S+ \S+ (?:\.\/)?usr\/bin\/clima\n/.exec(files)[1]);
    assert.ok(size < 40e6, `/usr/bin/clima is stripped (${size} bytes)`);
  });

  it('the desktop .rpm holds the same files and requires WebKitGTK 4.1 and GTK 3', () => {
    const files = run('rpm', ['-qlp', rpm]);
    for (const f of Object.values(DESKTOP_FILES)) assert.ok(files.split('\n').includes(f), f);
    const requires = run('rpm', ['-qpR', rpm]);
    assert.match(requires, /webkit2gtk4\.1/);
    assert.match(requires, /gtk3/);
  });

  it('the desktop entry and AppStream metadata pass their validators', () => {
    const dir = tempDir('clima-deb-');
    try {
      run('dpkg-deb', ['--extract', desktopDeb, dir.path]);
      run('desktop-file-validate', [path.join(dir.path, DESKTOP_FILES.entry)]);
      run('appstreamcli', ['validate', '--no-net', path.join(dir.path, DESKTOP_FILES.metainfo)]);
      // The metadata with its desktop entry and icon, as a software centre reads them.
      run('appstreamcli', ['validate-tree', '--no-net', dir.path]);
      const entry = readFileSync(path.join(dir.path, DESKTOP_FILES.entry), 'utf8');
      assert.match(entry, /^Exec=clima$/m);
      assert.match(entry, /^Icon=clima$/m);
    } finally {
      dir.remove();
    }
  });

  it('the udev rule passes udevadm, which refuses a broken copy', () => {
    const rule = path.join(ROOT, 'packaging', 'linux', '60-clima-serial.rules');
    assert.deepEqual(udevProblems(rule), []);
    const dir = tempDir('clima-udev-');
    try {
      const broken = path.join(dir.path, 'broken.rules');
      writeFileSync(broken, readFileSync(rule, 'utf8').replace('TAG+="uaccess", ENV', 'TAG+"uaccess", ENV'));
      assert.notDeepEqual(udevProblems(broken), []);
    } finally {
      dir.remove();
    }
  });

  it('both .debs install with dpkg', () => {
    installed = true;
    const dpkg = spawnSync('dpkg', ['-i', desktopDeb, serverDeb], { encoding: 'utf8' });
    // Missing dependencies leave the packages unconfigured until apt brings them.
    if (dpkg.status !== 0) run('apt-get', ['install', '-f', '-y', '-qq', '--no-install-recommends'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    for (const p of ['clima', 'clima-server']) assert.equal(run('dpkg-query', ['-W', '-f=${Status}', p]), 'install ok installed', p);
    for (const f of [...Object.values(DESKTOP_FILES), ...Object.values(SERVER_FILES)]) assert.ok(existsSync(f), f);
    for (const size of ICON_DIRS) assert.ok(existsSync(`/usr/share/icons/hicolor/${size}/apps/clima.png`), size);
    // The server's user and its state folder.
    assert.match(run('getent', ['passwd', 'clima']), /^clima:x:\d+:\d+:.*:\/var\/lib\/clima:/);
    const state = statSync('/var/lib/clima');
    assert.equal(state.uid, Number(run('id', ['-u', 'clima'])));
  });

  it('the server unit passes systemd-analyze verify and is sandboxed', () => {
    run('systemd-analyze', ['verify', SERVER_FILES.unit]);
    const unit = unitSettings(readFileSync(SERVER_FILES.unit, 'utf8'));
    for (const [key, value] of [
      ['User', 'clima'],
      ['StateDirectory', 'clima'],
      ['SupplementaryGroups', 'dialout'],
      ['ProtectSystem', 'strict'],
      ['Restart', 'on-failure'],
    ]) {
      assert.deepEqual(unit.get(key), [value], key);
    }
    assert.match(unit.get('ExecStart')[0], /--token auto/);
    // systemd's own rating of the sandbox, 0 (locked down) to 10 (none); fails above 2.5.
    run('systemd-analyze', ['security', '--offline=true', '--threshold=25', SERVER_FILES.unit]);
  });

  it('the installed app runs for a user with a fresh HOME: window, a card after one reading, a screenshot', async () => {
    if (spawnSync('id', [TESTER]).status !== 0) run('useradd', ['--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', TESTER]);
    home = tempDir('clima-home-');
    const uid = Number(run('id', ['-u', TESTER]));
    const gid = Number(run('id', ['-g', TESTER]));
    chmodSync(home.path, 0o700);
    chownSync(home.path, uid, gid);
    const runtime = path.join(home.path, 'run');
    mkdirSync(runtime, { mode: 0o700 });
    chownSync(runtime, uid, gid);
    // tauri-driver lives in root's cargo folder, which the user may not enter.
    const tauriDriver = path.join(home.path, 'tauri-driver');
    copyFileSync(run('sh', ['-c', 'command -v tauri-driver']).trim(), tauriDriver);
    chmodSync(tauriDriver, 0o755);
    testerEnv = [`HOME=${home.path}`, `XDG_RUNTIME_DIR=${runtime}`, 'LANG=C.UTF-8'];
    // The user's session bus: a second start finds the first one through it.
    bus = asTester('dbus-daemon', ['--session', '--nofork', '--print-address=1', '--nopidfile']);
    testerEnv.push(`DBUS_SESSION_BUS_ADDRESS=${await waitFor('the session bus', () => /^unix:\S+/m.exec(bus.output())?.[0])}`);
    driver = asTester(tauriDriver, ['--port', String(DRIVER_PORT)]);
    await waitForTauriDriver(DRIVER_PORT);
    // No --db and no --token: the database goes where a user's does and the token is generated.
    session = await Session.create(`http://127.0.0.1:${DRIVER_PORT}`, {
      'tauri:options': { application: DESKTOP_FILES.binary, args: ['--listen', `127.0.0.1:${APP_PORT}`, '--serial', 'off'] },
    });
    await waitForPort(APP_PORT);
    const windows = () => run('xdotool', ['search', '--onlyvisible', '--name', '^Clima$']).trim().split('\n');
    const [window] = await waitFor('the Clima window', () => windows());
    assert.equal(run('xdotool', ['getwindowname', window]).trim(), 'Clima');
    await waitFor('the dashboard to load', () => session.exec('return document.body.dataset.ready === "true"'), 60_000);
    const token = (
      await session.execAsync(`const done = arguments[arguments.length - 1];
        window.__TAURI__.core.invoke('status').then(done, (e) => done({ error: e }));`)
    ).token;
    assert.match(token, /^[0-9a-f]{32}$/, 'a token was generated on first run');
    await post(APP_PORT, token, { sensor: 'cellar', name: 'Cellar', temperature: 12.5, humidity: 71 });
    const value = () => session.exec(`const el = document.querySelector('[data-sensor="cellar"] [data-metric="temperature"] .value'); return el && el.textContent;`);
    await waitFor('the cellar card', async () => (await value()) === '12.5');
    assert.equal(await session.exec('return document.querySelector(\'[data-sensor="cellar"] .name\').textContent'), 'Cellar');
    // The screen as X shows it. The window is painted a while after the page changed, so the
    // shot is retaken each second until it holds the card and its charts: as PNG, a blank window
    // is about 1 KB, the header alone about 12 KB, with the card and charts about 36 KB.
    const shot = path.join(OUT, 'installed-app.png');
    await waitFor('the card and charts on the screen', async () => {
      await new Promise((r) => setTimeout(r, 1000));
      run('import', ['-window', 'root', shot]);
      return statSync(shot).size > 25_000;
    }, 30_000);
    const db = path.join(home.path, '.local', 'share', 'clima', 'clima.db');
    assert.equal(statSync(db).uid, uid, 'the database is in the user\'s data folder, owned by the user');
  });

  it('a second start leaves one window and exits', async () => {
    assert.ok(session, 'the app is running');
    const second = asTester(DESKTOP_FILES.binary, ['--listen', `127.0.0.1:${APP_PORT}`, '--serial', 'off']);
    const exited = await Promise.race([second.exited, new Promise((r) => setTimeout(() => r(null), 20_000))]);
    await second.stop();
    assert.ok(exited, `the second clima exited: ${second.output()}`);
    assert.equal(exited.code, 0, second.output());
    assert.equal(run('xdotool', ['search', '--onlyvisible', '--name', '^Clima$']).trim().split('\n').length, 1, 'one Clima window');
    // The first one still serves its window.
    assert.equal(await session.exec('return document.querySelectorAll(\'[data-sensor="cellar"]\').length'), 1);
  });

  it('the installed server runs as its unit would: user, groups, arguments, read-only system', async () => {
    const unit = unitSettings(readFileSync(SERVER_FILES.unit, 'utf8'));
    // Systemd is not PID 1 in this container, so the unit itself cannot run: its ExecStart runs
    // as its user with its groups, no new privileges and no capabilities, in a mount namespace
    // where everything but the state folder is read-only (ProtectSystem=strict) with a private
    // /tmp. Only the port changes, to a free test port.
    const args = unit.get('ExecStart')[0].split(/\s+/).map((a) => (a === '0.0.0.0:8137' ? `127.0.0.1:${SERVER_PORT}` : a));
    assert.ok(args.includes(`127.0.0.1:${SERVER_PORT}`), 'the unit listens on 0.0.0.0:8137');
    const [user] = unit.get('User');
    const [group] = unit.get('Group');
    const groups = unit.get('SupplementaryGroups').join(',');
    const sandbox = [
      'mount --bind /var/lib/clima /var/lib/clima',
      'mount -o remount,bind,ro /',
      'mount -t tmpfs tmpfs /tmp',
      `umask ${unit.get('UMask')[0]}`,
      `exec setpriv --reuid=${user} --regid=${group} --groups=${groups} --no-new-privs --inh-caps=-all --bounding-set=-all "$@"`,
    ].join(' && ');
    server = start('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', sandbox, 'sh', ...args]);
    await waitForPort(SERVER_PORT);
    const base = `http://127.0.0.1:${SERVER_PORT}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/api/v1/sensors`)).status, 401, '--token auto: a token is required');
    // The README's way to read the token, as the service's user.
    const kept = run('runuser', ['-u', user, '--', SERVER_FILES.binary, 'token', '--db', '/var/lib/clima/clima.db']).trim();
    assert.match(kept, /^[0-9a-f]{32}$/);
    await post(SERVER_PORT, kept, { sensor: 'attic', temperature: 18.5 });
    const sensors = await (await fetch(`${base}/api/v1/sensors`, { headers: { Authorization: `Bearer ${kept}` } })).json();
    assert.deepEqual(sensors.sensors.map((s) => s.sensor), ["attic"]);
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.equal(await page.text(), readFileSync(SERVER_FILES.dashboard, 'utf8'), 'the packaged dashboard');
    assert.match(page.headers.get('content-security-policy'), /script-src 'self'/);
    await server.stop();
    assert.equal((await server.exited).code, 0, `stopped cleanly by SIGTERM: ${server.output()}`);
    await waitForPortClosed(SERVER_PORT);
    assert.equal(statSync('/var/lib/clima/clima.db').uid, Number(run('id', ['-u', user])));
  });

  it('dpkg -r removes the programs, entry and rule, and keeps both databases', async () => {
    if (session) await session.quit().catch(() => {});
    session = null;
    await driver?.stop();
    run('dpkg', ['-r', 'clima', 'clima-server']);
    for (const f of [...Object.values(DESKTOP_FILES), ...Object.values(SERVER_FILES)]) assert.ok(!existsSync(f), `${f} is gone`);
    assert.ok(!existsSync('/usr/share/icons/hicolor/128x128/apps/clima.png'));
    // What the programs wrote is the user's: the desktop database with its reading, the server's.
    const db = path.join(home.path, '.local', 'share', 'clima', 'clima.db');
    // Read as each database's owner, so that no file SQLite adds beside it belongs to root.
    const query = (user, file, sql) => run('runuser', ['-u', user, '--', 'sqlite3', file, sql]).trim();
    assert.equal(query(TESTER, db, "SELECT name FROM sensors WHERE key = 'cellar'"), 'Cellar');
    assert.equal(query('clima', '/var/lib/clima/clima.db', "SELECT count(*) FROM sensors WHERE key = 'attic'"), '1');
  });
});
