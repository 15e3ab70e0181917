// Clima's dashboard: keeps the model of sensors and their latest values, applies live updates
// (already coalesced by the app or the server, and coalesced again here to the chosen
// interval), and drives the cards, charts, the comparison, each sensor's menu, alerts, settings,
// the first-run help and the banner shown while the database cannot be written.

import { createTransport } from './transport.js';
import { byId, h, replace, setText } from './dom.js';
import { SensorCards } from './cards.js';
import { ChartPanel } from './charts.js';
import { ComparePanel, MAX_COMPARED } from './compare.js';
import { SensorMenu } from './sensormenu.js';
import { SettingsPanel, examples } from './settings.js';
import { AlertsView, firingBySensor } from './alerts.js';
import { compareMetrics, intervalFromTimes, storeProblemText, usualInterval } from './format.js';
import { errorText, localizePage, t } from './i18n.js';

/** History behind trends and usual intervals: the last 3 h in 1-minute buckets. */
const HISTORY_MS = 3 * 3_600_000;
const HISTORY_POINTS = 180;
const HISTORY_REFRESH_MS = 5 * 60_000;
/** Live arrival times kept per sensor, to learn the interval of a new sensor. */
const LIVE_TIMES = 12;
/** How often the page asks whether the database can be written (status or /healthz). */
const STORE_CHECK_MS = 3000;

localizePage(document);
const transport = createTransport();
const prefs = {
  tempUnit: localStorage.getItem('clima.tempUnit') === 'F' ? 'F' : 'C',
  updateMs: Number(localStorage.getItem('clima.updateMs')) || 500,
};

/**
 * sensor id → { sensor, name, display_name, hidden, source, series, last_seen, clock,
 * metrics: Map(metric → {value, unit, measured_at, received_at, derived, calibration}) }
 */
const sensors = new Map();
/** sensor id → { at, byMetric: Map(metric → buckets), interval } */
const history = new Map();
/** sensor id → recent arrival times (host clock of the engine) */
const liveTimes = new Map();
/** sensor id → its firing alerts (from the alert list) */
let firing = new Map();
let selected = localStorage.getItem('clima.selected');
let painted = false;
/** Sensors on the comparison, in the order chosen. */
let compared = readCompared();
/** Whether hidden sensors' cards are shown (dimmed) for now. */
let showHidden = false;

function readCompared() {
  try {
    const ids = JSON.parse(localStorage.getItem('clima.compare') ?? '[]');
    return Array.isArray(ids) ? ids.filter((id) => typeof id === 'string').slice(0, MAX_COMPARED) : [];
  } catch {
    return [];
  }
}

/**
 * Drops compared sensors the engine does not know (deleted elsewhere, or chosen with another
 * database): kept, they would fill the comparison's places and leave every toggle disabled.
 */
function forgetUnknownCompared() {
  const known = compared.filter((id) => sensors.has(id));
  if (known.length === compared.length) return;
  compared = known;
  localStorage.setItem('clima.compare', JSON.stringify(compared));
}

function setCompared(ids) {
  compared = ids.slice(0, MAX_COMPARED);
  localStorage.setItem('clima.compare', JSON.stringify(compared));
  render();
}

const view = {
  get now() {
    return Date.now();
  },
  get tempUnit() {
    return prefs.tempUnit;
  },
  get selected() {
    return selected;
  },
  get compared() {
    return new Set(compared);
  },
  maxCompared: MAX_COMPARED,
  historyOf: (id, metric) => history.get(id)?.byMetric.get(metric) ?? [],
  intervalOf: (id) => history.get(id)?.interval ?? intervalFromTimes(liveTimes.get(id) ?? []),
  firingOf: (id) => firing.get(id) ?? [],
};

const cards = new SensorCards(
  byId('cards'),
  (id) => select(id),
  (id, on) => setCompared(on ? [...compared.filter((c) => c !== id), id] : compared.filter((c) => c !== id)),
  (id) => openMenu(id),
);
const charts = new ChartPanel(byId('charts'), transport, view);
const comparison = new ComparePanel(byId('compare'), transport, view, () => setCompared([]));
const menu = new SensorMenu(byId('sensor-menu'), transport, (change) => afterHousekeeping(change));
byId('show-hidden').addEventListener('click', () => {
  showHidden = !showHidden;
  render();
});

function openMenu(id) {
  const s = sensors.get(id);
  if (!s) return;
  menu.open(s, [...sensors.values()].filter((o) => o.sensor !== id));
}

/** After a rename, calibration, hiding, merge or deletion: the list from the engine again. */
async function afterHousekeeping(change) {
  const gone = change.deleted ?? change.merged;
  if (gone) {
    compared = compared.filter((c) => c !== gone);
    localStorage.setItem('clima.compare', JSON.stringify(compared));
    history.delete(gone);
  }
  if (change.into) history.delete(change.into);
  load(await transport.sensors());
  render();
  charts.refresh();
  comparison.refresh();
  if (change.into) loadHistory(change.into);
}
const settings = new SettingsPanel(
  byId('settings'),
  transport,
  prefs,
  (change) => setPrefs(change),
  () => renderEmptyExample(),
  () => [...sensors.keys()],
);
const alerts = new AlertsView(byId('alerts'), transport, (list) => {
  firing = firingBySensor(list.active);
  render();
});
// A clicked notification asks for its sensor.
transport.onFocusSensor((id) => {
  if (typeof id === 'string' && sensors.has(id)) select(id);
});

byId('open-settings').addEventListener('click', () => (settings.isOpen ? settings.close() : settings.open()));
byId('auth').addEventListener('submit', (e) => {
  e.preventDefault();
  transport.setToken(byId('token-input').value);
  window.location.reload();
});

function setPrefs(change) {
  Object.assign(prefs, change);
  localStorage.setItem('clima.tempUnit', prefs.tempUnit);
  localStorage.setItem('clima.updateMs', String(prefs.updateMs));
  if ('updateMs' in change) transport.setUpdateInterval(prefs.updateMs).catch(() => {});
  if ('tempUnit' in change) charts.refresh();
  render();
}

function select(id) {
  selected = id;
  localStorage.setItem('clima.selected', id);
  render();
  byId('charts').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
}

function setConnection(state, detail) {
  const el = byId('conn');
  // Back after an interruption: what arrived meanwhile is in the store, not in the stream.
  if (state === 'live' && (el.dataset.state === 'reconnecting' || el.dataset.state === 'offline')) {
    transport.sensors().then((list) => {
      load(list);
      render();
    }, () => {});
    alerts.refresh();
  }
  el.dataset.state = state;
  setText(el, t(`conn.${state}`));
  el.title = detail ?? '';
}

function showError(e) {
  const banner = byId('banner');
  banner.hidden = !e;
  if (e) setText(banner, errorText(e));
}

let checkingStore = false;
/** Shows or hides the store banner: while commits fail, devices' readings are refused. */
async function checkStore() {
  // A slow answer is not asked again on top of itself.
  if (checkingStore) return;
  checkingStore = true;
  let problem;
  try {
    problem = await transport.storeProblem();
  } catch {
    // No answer (the engine did not start, or is stopping): other messages say so.
    return;
  } finally {
    checkingStore = false;
  }
  const banner = byId('store-banner');
  banner.hidden = problem == null;
  if (problem != null) setText(banner, storeProblemText(problem));
}

function sortedMetrics(entries) {
  return new Map([...entries].sort(([a], [b]) => compareMetrics(a, b)));
}

/** Replaces the model with the sensor list from the engine. */
function load(list) {
  sensors.clear();
  for (const s of list.sensors) {
    sensors.set(s.sensor, {
      sensor: s.sensor,
      name: s.name,
      display_name: s.display_name ?? null,
      hidden: s.hidden ?? false,
      source: s.source,
      series: s.series ?? null,
      last_seen: s.last_seen,
      clock: s.clock ?? null,
      metrics: sortedMetrics(s.metrics.filter((m) => m.value != null).map((m) => [m.metric, m])),
    });
  }
}

/** Applies one coalesced update: `{readings: [LiveSample], skipped}`. */
function apply(update) {
  const touched = new Set();
  let added = false;
  for (const r of update.readings) {
    let s = sensors.get(r.sensor);
    if (!s) {
      s = { sensor: r.sensor, name: r.name ?? null, source: '', last_seen: r.received_at, metrics: new Map() };
      sensors.set(r.sensor, s);
      added = true;
    }
    if (r.name) s.name = r.name;
    if (r.clock) s.clock = r.clock;
    s.last_seen = Math.max(s.last_seen ?? 0, r.received_at);
    const isNew = !s.metrics.has(r.metric);
    // Live samples come calibrated but do not say how: the sensor list did.
    const calibration = s.metrics.get(r.metric)?.calibration ?? null;
    s.metrics.set(r.metric, { metric: r.metric, unit: r.unit ?? null, value: r.value, measured_at: r.measured_at, received_at: r.received_at, derived: r.derived ?? false, calibration });
    if (isNew) s.metrics = sortedMetrics(s.metrics);
    touched.add(r.sensor);
  }
  for (const id of touched) {
    const times = liveTimes.get(id) ?? [];
    const at = sensors.get(id).last_seen;
    if (times[times.length - 1] !== at) times.push(at);
    liveTimes.set(id, times.slice(-LIVE_TIMES));
  }
  if (added) {
    // Keep the same order as the sensor list (by id) and learn the newcomers' history.
    const ordered = [...sensors.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    sensors.clear();
    for (const [k, v] of ordered) sensors.set(k, v);
  }
  render();
  charts.onLive(touched);
  comparison.onLive(touched);
  for (const id of touched) if (!history.has(id)) loadHistory(id);
  if (added) refreshListSoon();
}

// Live samples carry no source: a new sensor's details come from the sensor list.
let listTimer = null;
function refreshListSoon() {
  if (listTimer) return;
  listTimer = setTimeout(async () => {
    listTimer = null;
    try {
      for (const s of (await transport.sensors()).sensors) {
        const known = sensors.get(s.sensor);
        if (known) Object.assign(known, { source: s.source, name: s.name ?? known.name, display_name: s.display_name ?? null, hidden: s.hidden ?? false, series: s.series ?? null });
      }
      render();
    } catch {
      // The cards keep what they have; the next new sensor tries again.
    }
  }, 1000);
}

// The browser gets the server's interval; a longer one chosen here is applied by holding
// updates and merging them (newest value per series wins).
let pending = null;
let lastApplied = 0;
function onUpdate(update) {
  if (transport.kind === 'tauri') return apply(update);
  pending = pending ?? new Map();
  for (const r of update.readings) pending.set(`${r.sensor}\u0000${r.metric}`, r);
  const wait = prefs.updateMs - (Date.now() - lastApplied);
  if (wait <= 0) flush();
  else if (!flush.timer) flush.timer = setTimeout(flush, wait);
}
function flush() {
  flush.timer = null;
  if (!pending) return;
  const readings = [...pending.values()];
  pending = null;
  lastApplied = Date.now();
  apply({ readings });
}

async function loadHistory(id) {
  const s = sensors.get(id);
  if (!s) return;
  const entry = { at: Date.now(), byMetric: new Map(), interval: null };
  history.set(id, entry);
  const to = Date.now();
  await Promise.all(
    [...s.metrics.keys()].map(async (metric) => {
      try {
        const r = await transport.readings({ sensor: id, metric, from: to - HISTORY_MS, to, points: HISTORY_POINTS });
        entry.byMetric.set(metric, r.points);
        const interval = usualInterval(r.points);
        if (interval != null && (entry.interval == null || interval < entry.interval)) entry.interval = interval;
      } catch {
        // No history yet for this metric: trends and staleness wait for it.
      }
    }),
  );
  // Within the first buckets a fast sensor shows one bucket only; live arrivals say more.
  const live = intervalFromTimes(liveTimes.get(id) ?? []);
  if (entry.interval == null && live != null) entry.interval = live;
  render();
}

function render() {
  const empty = sensors.size === 0;
  byId('empty').hidden = !empty;
  byId('cards').hidden = empty;
  // Hidden sensors are still collected; their cards show only when asked.
  const hiddenCount = [...sensors.values()].filter((s) => s.hidden).length;
  const shown = new Map([...sensors].filter(([, s]) => showHidden || !s.hidden));
  const toggle = byId('show-hidden');
  toggle.hidden = hiddenCount === 0;
  setText(toggle, showHidden ? t('cards.hideHidden', { n: hiddenCount }) : t('cards.showHidden', { n: hiddenCount }));
  if (shown.size && (!selected || !shown.has(selected))) selected = shown.keys().next().value;
  cards.render(shown, view);
  charts.show(shown.size === 0 ? null : shown.get(selected));
  comparison.show(compared.map((id) => sensors.get(id)).filter(Boolean));
  if (!painted) {
    painted = true;
    document.body.dataset.ready = 'true';
    // Two frames: the first paint of this state has happened.
    requestAnimationFrame(() => requestAnimationFrame(() => transport.painted().catch(() => {})));
  }
}

/** The first-run curl line, with the address and the token in force. */
async function renderEmptyExample() {
  let status;
  try {
    status = await transport.status();
  } catch {
    return;
  }
  const base = `http://${status.addresses[0] ?? status.listen}`;
  setText(byId('empty-curl'), examples(base, status.token)[0].text);
}

async function renderEmptyState() {
  await renderEmptyExample();
  const demo = byId('demo');
  if (await transport.demoAvailable().catch(() => false)) {
    demo.hidden = false;
    demo.onclick = async () => {
      demo.disabled = true;
      setText(demo, t('demo.starting'));
      try {
        await transport.startDemo();
        setText(demo, t('demo.running'));
      } catch (e) {
        setText(demo, t('demo.failed', { message: errorText(e) }));
      }
    };
  }
}

async function start() {
  transport.setUpdateInterval(prefs.updateMs).catch(() => {});
  checkStore();
  setInterval(checkStore, STORE_CHECK_MS);
  let list;
  try {
    list = await transport.sensors();
  } catch (e) {
    if (transport.needsToken()) {
      byId('auth').hidden = false;
      byId('token-input').focus();
      setConnection('offline', t('conn.needsToken'));
      return;
    }
    // The engine did not start (port taken...): say why instead of the first-run help.
    showError(e);
    setConnection('offline', errorText(e));
    return;
  }
  // Listen first, then load what is there, then apply what arrived meanwhile: nothing is missed.
  const early = [];
  let loaded = false;
  transport.subscribe((update) => (loaded ? onUpdate(update) : early.push(update)), setConnection);
  list = await transport.sensors().catch(() => list);
  load(list);
  forgetUnknownCompared();
  loaded = true;
  alerts.start();
  for (const update of early) onUpdate(update);
  render();
  renderEmptyState();
  for (const id of sensors.keys()) loadHistory(id);
  setInterval(() => {
    for (const [id, entry] of history) if (Date.now() - entry.at > HISTORY_REFRESH_MS) loadHistory(id);
  }, 30_000);
  // Ages and staleness move with the clock.
  setInterval(render, 1000);
}

start();
