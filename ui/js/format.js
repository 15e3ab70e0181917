// Pure helpers for the dashboard: units, ages, trends, the staleness rule and message texts. No
// DOM, no clock reads: callers pass `now`, so the unit tests (e2e/unit) are exact. Numbers, times
// and durations go through `Intl` in the language in use (i18n.js).

import { language, t, textOr } from './i18n.js';

/** Metrics in the order cards, charts and the comparison show them; others follow by name. */
const METRIC_ORDER = ['temperature', 'humidity', 'dew_point', 'pressure', 'co2'];

/** Orders two metric names as the dashboard shows them. */
export function compareMetrics(a, b) {
  const rank = (m) => (METRIC_ORDER.includes(m) ? METRIC_ORDER.indexOf(m) : METRIC_ORDER.length);
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** A human label for a metric name (other names are shown as sent, as text). */
export function metricLabel(metric) {
  return textOr(`metric.${metric}`, metric);
}

const formatters = new Map();
/** An `Intl` formatter of `kind` for the language in use, made once per language and options. */
function intl(kind, options) {
  const key = `${kind} ${language()} ${JSON.stringify(options)}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Intl[kind](language(), options);
    formatters.set(key, f);
  }
  return f;
}

/** Whether a unit is Celsius, so the °F preference applies. */
export function isCelsius(unit) {
  return unit === '°C';
}

/** A value in the viewer's unit: `{ value, unit }`. */
export function convert(value, unit, tempUnit) {
  if (value == null || !Number.isFinite(value)) return { value: null, unit: unit ?? '' };
  if (isCelsius(unit) && tempUnit === 'F') return { value: value * 9 / 5 + 32, unit: '°F' };
  return { value, unit: unit ?? '' };
}

/** Decimals worth showing per metric; others get decimals by size. */
const DECIMALS = { temperature: 1, dew_point: 1, humidity: 1, absolute_humidity: 1, pressure: 1, co2: 0 };

/** A value as text with sensible decimals for its metric or, failing that, its size. */
export function formatNumber(value, metric) {
  if (value == null || !Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  const decimals = DECIMALS[metric] ?? (abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 1 ? 1 : 2);
  // Readings are not grouped (1013.3 hPa, as instruments show them).
  return intl('NumberFormat', { minimumFractionDigits: decimals, maximumFractionDigits: decimals, useGrouping: false }).format(value);
}

/** A count as the language writes it: "1,234". */
export function formatCount(n) {
  return intl('NumberFormat', {}).format(n);
}

/**
 * A span of time in the largest whole unit worth showing: `{ value, unit }` with an `Intl` unit
 * (second, minute, hour, day); seconds under a minute, minutes under an hour, hours under two
 * days. Null for no span.
 */
export function elapsed(ms) {
  if (ms == null || !Number.isFinite(ms)) return null;
  const s = Math.floor(Math.max(0, ms) / 1000);
  if (s < 60) return { value: s, unit: 'second' };
  const m = Math.floor(s / 60);
  if (m < 60) return { value: m, unit: 'minute' };
  const h = Math.floor(m / 60);
  if (h < 48) return { value: h, unit: 'hour' };
  return { value: Math.floor(h / 24), unit: 'day' };
}

/** `{ value, unit }` as "5 min" ("5 分"). */
export function formatDuration({ value, unit }) {
  return intl('NumberFormat', { style: 'unit', unit, unitDisplay: 'short', maximumFractionDigits: 2 }).format(value);
}

/** How long ago, "just now", "12 sec. ago", "5 min. ago" ("たった今", "12 秒前"), or "never". */
export function formatAge(ms) {
  const span = elapsed(ms);
  if (!span) return t('age.never');
  if (span.unit === 'second' && span.value < 2) return t('age.justNow');
  return intl('RelativeTimeFormat', { style: 'short' }).format(-span.value, span.unit);
}

/**
 * A usual interval rounded to a whole unit: `{ value, unit }`, at least 1 s, minutes up to two
 * hours.
 */
export function intervalParts(ms) {
  const s = Math.round(ms / 1000);
  if (s < 60) return { value: Math.max(s, 1), unit: 'second' };
  const m = Math.round(s / 60);
  if (m < 120) return { value: m, unit: 'minute' };
  return { value: Math.round(m / 60), unit: 'hour' };
}

/** A duration such as a sensor's usual interval: "30 sec", "5 min" ("30 秒", "5 分"). */
export function formatInterval(ms) {
  return formatDuration(intervalParts(ms));
}

/** A time of day (with seconds if asked), or date and time when not today, in the viewer's zone. */
export function formatTime(at, now, seconds = true) {
  const d = new Date(at);
  const time = d.toLocaleTimeString(language(), { hour: '2-digit', minute: '2-digit', second: seconds ? '2-digit' : undefined, hourCycle: 'h23' });
  if (new Date(now).toDateString() === d.toDateString()) return time;
  return `${d.toLocaleDateString(language(), { day: 'numeric', month: 'short' })} ${time}`;
}

/** Smallest change over a quarter of an hour that counts as rising or falling, per metric. */
const TREND_THRESHOLD = { temperature: 0.2, dew_point: 0.2, humidity: 1, pressure: 0.3, co2: 30 };

/**
 * Rising, falling or steady: the latest value against the mean of the buckets measured 15 to 30
 * minutes before `now`. `buckets` are /api/v1/readings points. Returns 'up', 'down', 'flat', or
 * null when there is no history to compare with.
 */
export function trend(metric, latest, buckets, now) {
  if (latest == null) return null;
  const old = buckets.filter((b) => b.count > 0 && b.t >= now - 30 * 60_000 && b.t < now - 15 * 60_000);
  if (old.length === 0) return null;
  const before = old.reduce((sum, b) => sum + b.mean * b.count, 0) / old.reduce((n, b) => n + b.count, 0);
  const threshold = TREND_THRESHOLD[metric] ?? Math.max(Math.abs(before) * 0.01, 1e-9);
  const delta = latest - before;
  if (delta >= threshold) return 'up';
  if (delta <= -threshold) return 'down';
  return 'flat';
}

/** The arrow shown for a trend. */
export function trendArrow(direction) {
  return { up: '↑', down: '↓', flat: '→' }[direction] ?? '';
}

/**
 * A sensor's usual interval between readings, ms, learned from its history: for each pair of
 * neighbouring non-empty buckets, the time between them over the readings in the later one;
 * the median of those, so an outage does not count. Null with too little history.
 */
export function usualInterval(buckets) {
  const full = buckets.filter((b) => b.count > 0);
  const gaps = [];
  for (let i = 1; i < full.length; i++) {
    gaps.push((full[i].t - full[i - 1].t) / full[i].count);
  }
  return median(gaps);
}

/** The median of the gaps between successive times (live updates), or null. */
export function intervalFromTimes(times) {
  const gaps = [];
  for (let i = 1; i < times.length; i++) {
    if (times[i] > times[i - 1]) gaps.push(times[i] - times[i - 1]);
  }
  return median(gaps);
}

function median(values) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** With no history, a sensor counts as stale after this long. */
export const DEFAULT_STALE_MS = 15 * 60_000;

/**
 * Whether a sensor has missed its usual interval: silent for three intervals, and for at least
 * 10 s more than one (so a 1 Hz sensor is not stale after a hiccup of 3 s).
 */
export function isStale(ageMs, intervalMs) {
  if (ageMs == null) return false;
  if (intervalMs == null) return ageMs > DEFAULT_STALE_MS;
  return ageMs > Math.max(3 * intervalMs, intervalMs + 10_000);
}

/**
 * A sensor's newest measurement by the device's clock (ms), from its metrics
 * (`{measured_at}` values); null without any.
 */
export function newestMeasured(metrics) {
  const times = [...metrics].map((m) => m.measured_at).filter(Number.isFinite);
  return times.length ? Math.max(...times) : null;
}

/**
 * What a card says when a sensor's two clocks disagree by more than a minute (the engine's
 * `clock.skew`: ahead, behind or backlog): by how much, and both times. Null when they agree.
 */
export function clockNote(clock, now) {
  if (!clock?.skew) return null;
  return t(`clock.${clock.skew}`, {
    by: formatDuration(elapsed(Math.abs(clock.skew_ms))),
    measured: formatTime(clock.measured_at, now, false),
    received: formatTime(clock.received_at, now, false),
  });
}

/** The chart ranges the buttons offer, ms. */
export const RANGES = [
  { id: '15m', value: 15, unit: 'minute', ms: 15 * 60_000 },
  { id: '1h', value: 1, unit: 'hour', ms: 3_600_000 },
  { id: '24h', value: 24, unit: 'hour', ms: 86_400_000 },
  { id: '7d', value: 7, unit: 'day', ms: 7 * 86_400_000 },
  { id: '30d', value: 30, unit: 'day', ms: 30 * 86_400_000 },
];

/** A range button's label: "15 min", "24 hr" ("15 分", "24 時間"). */
export function rangeLabel(range) {
  return formatDuration(range);
}

/** The bucket under a pointer at `x` pixels in a chart whose data spans `plot`. */
export function bucketAt(x, plot, readings) {
  const points = readings.points;
  if (!points.length || x < plot.left || x > plot.left + plot.width) return null;
  const start = points[0].t;
  const end = start + readings.bucket_ms * points.length;
  const t = start + ((x - plot.left) / plot.width) * (end - start);
  const i = Math.min(points.length - 1, Math.floor((t - start) / readings.bucket_ms));
  return points[i] ?? null;
}

/**
 * The name an export is saved under: sensor, metric and the range's UTC dates, as the desktop
 * app suggests it. Device-supplied ids keep only `A-Z a-z 0-9 . _ -`, and no part starts with a
 * dot (a hidden file, `..`) or a dash (an option to command-line tools).
 */
export function exportFileName(sensor, metric, from, to, ext) {
  const part = (s, fallback) => {
    const cleaned = [...String(s)].map((c) => (/^[A-Za-z0-9._-]$/.test(c) ? c : '_')).slice(0, 64).join('');
    return cleaned.replace(/^[.-]+/, '') || fallback;
  };
  const date = (t) => new Date(t).toISOString().slice(0, 10);
  const [first, last] = [date(from), date(to - 1)];
  const dates = first === last ? first : `${first}_${last}`;
  return `${part(sensor, 'sensor')}-${part(metric, 'metric')}-${dates}.${ext}`;
}

/** A byte count as "812 B", "45 kB", "3.2 MB": SI symbols, the number as the language writes it. */
export function formatBytes(n) {
  const [value, unit] = n < 1000 ? [n, 'B'] : n < 1e6 ? [Math.round(n / 1000), 'kB'] : [n / 1e6, 'MB'];
  return `${intl('NumberFormat', { maximumFractionDigits: 1 }).format(value)} ${unit}`;
}

/**
 * The banner shown while the database cannot be written: what is wrong (`reason`, as the
 * engine reports it) and what happens to readings meanwhile.
 */
export function storeProblemText(reason) {
  const why = String(reason ?? '').trim().replace(/[\s.]+$/, '') || t('store.noReason');
  return t('store.problem', { why });
}

/**
 * A line-protocol series as the card shows it: `climate · room=attic, floor=2`; null for a
 * sensor of another format. Device text: show it with textContent only.
 */
export function seriesLabel(series) {
  if (!series || typeof series.measurement !== 'string') return null;
  const tags = Object.entries(series.tags || {}).map(([k, v]) => `${k}=${v}`);
  return tags.length ? `${series.measurement} · ${tags.join(', ')}` : series.measurement;
}
