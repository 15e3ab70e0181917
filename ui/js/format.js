// Pure helpers for the dashboard: units, ages, trends, the staleness rule and message texts. No
// DOM, no clock reads: callers pass `now`, so the unit tests (e2e/unit) are exact.

const LABELS = {
  temperature: 'Temperature',
  humidity: 'Humidity',
  pressure: 'Pressure',
  co2: 'CO₂',
  dew_point: 'Dew point',
};

/** A human label for a metric name (other names are shown as sent, as text). */
export function metricLabel(metric) {
  return LABELS[metric] ?? metric;
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
const DECIMALS = { temperature: 1, dew_point: 1, humidity: 1, pressure: 1, co2: 0 };

/** A value as text with sensible decimals for its metric or, failing that, its size. */
export function formatNumber(value, metric) {
  if (value == null || !Number.isFinite(value)) return '–';
  if (metric in DECIMALS) return value.toFixed(DECIMALS[metric]);
  const abs = Math.abs(value);
  const decimals = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 1 ? 1 : 2;
  return value.toFixed(decimals);
}

/** "just now", "12 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function formatAge(ms) {
  if (ms == null || !Number.isFinite(ms)) return 'never';
  const s = Math.floor(Math.max(0, ms) / 1000);
  if (s < 2) return 'just now';
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

/** A duration such as a sensor's usual interval: "1 s", "30 s", "5 min", "2 h". */
export function formatInterval(ms) {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${Math.max(s, 1)} s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} min`;
  return `${Math.round(m / 60)} h`;
}

/** A time of day (with seconds if asked), or date and time when not today, in the viewer's zone. */
export function formatTime(t, now, seconds = true) {
  const d = new Date(t);
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: seconds ? '2-digit' : undefined, hourCycle: 'h23' });
  if (new Date(now).toDateString() === d.toDateString()) return time;
  return `${d.toLocaleDateString([], { day: 'numeric', month: 'short' })} ${time}`;
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
export function trendArrow(t) {
  return { up: '↑', down: '↓', flat: '→' }[t] ?? '';
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

/** The chart ranges the buttons offer, ms. */
export const RANGES = [
  { id: '15m', label: '15 min', ms: 15 * 60_000 },
  { id: '1h', label: '1 h', ms: 3_600_000 },
  { id: '24h', label: '24 h', ms: 86_400_000 },
  { id: '7d', label: '7 d', ms: 7 * 86_400_000 },
  { id: '30d', label: '30 d', ms: 30 * 86_400_000 },
];

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

/** A byte count as "812 B", "45 KB", "3.2 MB". */
export function formatBytes(n) {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${Math.round(n / 1000)} KB`;
  return `${(n / 1e6).toFixed(1)} MB`;
}

/**
 * The banner shown while the database cannot be written: what is wrong (`reason`, as the
 * engine reports it) and what happens to readings meanwhile.
 */
export function storeProblemText(reason) {
  const why = String(reason ?? '').trim().replace(/[\s.]+$/, '') || 'no reason given';
  return `The database cannot be written: ${why}. Readings sent now are refused (503) and devices should resend them.`;
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
