// Charts of the selected sensor, one per metric. The SVG is drawn in Rust (plotters); the page
// only places it, switches ranges, refreshes it at most every few seconds while readings come
// in, and maps the pointer to a bucket to show its time and value.

import { h, replace, setText } from './dom.js';
import { RANGES, bucketAt, convert, formatBytes, formatCount, formatNumber, formatTime, metricLabel, rangeLabel } from './format.js';
import { errorText, language, t } from './i18n.js';
import { parseSvg, showSvg } from './svg.js';
import { displayName } from './cards.js';

/** What each chart can be exported as (the button says the format; `export.<id>` its title). */
const EXPORT_FORMATS = ['csv', 'png', 'svg'];

/** A live chart is redrawn at most this often, and never more often than its buckets change. */
const MIN_REFRESH_MS = 2000;
/** Charts also slide with the clock while no readings arrive. */
const IDLE_REFRESH_MS = 60_000;

export class ChartPanel {
  constructor(root, transport, view) {
    this.root = root;
    this.transport = transport;
    this.view = view;
    this.title = root.querySelector('#chart-title');
    this.list = root.querySelector('#chart-list');
    this.sensor = null;
    this.range = RANGES.find((r) => r.id === (localStorage.getItem('clima.range') ?? '1h')) ?? RANGES[1];
    this.figures = new Map();
    this.lastLoad = 0;
    this.timer = null;
    const buttons = root.querySelector('#ranges');
    for (const r of RANGES) {
      buttons.append(
        h('button', { type: 'button', data: { range: r.id }, 'aria-pressed': String(r === this.range), onclick: () => this.setRange(r.id) }, rangeLabel(r)),
      );
    }
    this.buttons = buttons;
    let lastWidth = 0;
    new ResizeObserver(() => {
      const w = this.list.clientWidth;
      if (Math.abs(w - lastWidth) > 8) {
        lastWidth = w;
        clearTimeout(this.resizeTimer);
        this.resizeTimer = setTimeout(() => this.refresh(), 200);
      }
    }).observe(this.list);
    setInterval(() => {
      if (Date.now() - this.lastLoad > IDLE_REFRESH_MS) this.refresh();
    }, 5000);
  }

  /** Shows the charts of `sensor` (the app's model entry), or hides the panel for null. */
  show(sensor) {
    this.root.hidden = !sensor;
    if (!sensor) {
      this.sensor = null;
      return;
    }
    const changed = this.sensor !== sensor.sensor;
    this.sensor = sensor.sensor;
    setText(this.title, displayName(sensor));
    const metrics = [...sensor.metrics.keys()];
    if (changed || metrics.join() !== [...this.figures.keys()].join()) {
      this.figures.clear();
      replace(this.list, ...metrics.map((m) => this.figure(m).root));
      this.refresh();
    }
  }

  setRange(id) {
    this.range = RANGES.find((r) => r.id === id) ?? this.range;
    localStorage.setItem('clima.range', this.range.id);
    for (const b of this.buttons.children) b.setAttribute('aria-pressed', String(b.dataset.range === this.range.id));
    this.refresh();
  }

  /** New readings for `sensorIds`: redraw soon if the shown sensor is among them. */
  onLive(sensorIds) {
    if (!this.sensor || !sensorIds.has(this.sensor) || this.timer) return;
    const bucketMs = [...this.figures.values()][0]?.readings?.bucket_ms ?? 0;
    const wait = Math.max(MIN_REFRESH_MS, bucketMs) - (Date.now() - this.lastLoad);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.refresh();
    }, Math.max(0, wait));
  }

  figure(metric) {
    // The chart itself: one inline <svg>, updated in place at each redraw (see svg.js for why).
    const art = h('div', { class: 'chart-art', role: 'img', 'aria-label': t('chart.label', { metric: metricLabel(metric) }) });
    const cursor = h('div', { class: 'cursor', hidden: true });
    const tip = h('div', { class: 'tip', role: 'status', hidden: true });
    const plotBox = h('div', { class: 'plot' }, art, cursor, tip);
    const status = h('span', { class: 'export-status', role: 'status' });
    const buttons = EXPORT_FORMATS.map((f) =>
      h('button', { type: 'button', data: { format: f }, title: t(`export.${f}`), onclick: () => this.exportAs(fig, f) }, f.toUpperCase()),
    );
    const label = t('export.group', { metric: metricLabel(metric) });
    const exporter = h('span', { class: 'export', role: 'group', 'aria-label': label }, t('export.label'), buttons, status);
    const caption = h('figcaption', {}, h('span', { class: 'chart-name' }, metricLabel(metric)), exporter);
    const root = h('figure', { class: 'chart', data: { metric } }, caption, plotBox);
    const fig = { metric, root, art, cursor, tip, plotBox, buttons, status, generation: 0, chart: null, readings: null };
    plotBox.addEventListener('pointermove', (e) => this.hover(fig, e));
    plotBox.addEventListener('pointerleave', () => {
      cursor.hidden = true;
      tip.hidden = true;
    });
    this.figures.set(metric, fig);
    return fig;
  }

  refresh() {
    if (!this.sensor) return;
    this.lastLoad = Date.now();
    for (const fig of this.figures.values()) this.load(fig);
  }

  async load(fig) {
    const generation = ++fig.generation;
    const width = Math.max(320, Math.min(4096, Math.round(fig.plotBox.clientWidth || this.list.clientWidth || 640)));
    const height = window.innerHeight < 700 ? 170 : 210;
    const to = Date.now();
    const query = {
      sensor: this.sensor,
      metric: fig.metric,
      from: to - this.range.ms,
      to,
      points: Math.min(1000, Math.max(60, Math.round(width / 2))),
    };
    try {
      const [chart, readings] = await Promise.all([
        this.transport.chart({ ...query, width, height, unit: this.view.tempUnit, tz: -new Date().getTimezoneOffset(), lang: language() }),
        this.transport.readings(query),
      ]);
      if (generation !== fig.generation) return;
      const art = parseSvg(chart.svg);
      fig.chart = { plot: chart.plot, width, height };
      fig.readings = readings;
      showSvg(fig.art, art);
      fig.art.setAttribute('aria-label', t('chart.label', { metric: metricLabel(fig.metric) }));
      fig.root.dataset.range = this.range.id;
      fig.root.dataset.points = String(readings.points.reduce((n, b) => n + b.count, 0));
      fig.root.classList.remove('error');
    } catch (e) {
      if (generation !== fig.generation) return;
      fig.root.classList.add('error');
      fig.chart = null;
      fig.art.replaceChildren();
      fig.art.setAttribute('aria-label', t('chart.unavailable', { message: errorText(e) }));
    }
  }

  /** Exports the shown sensor, metric and range; says where it went, or why it did not. */
  async exportAs(fig, format) {
    const to = Date.now();
    // The title of the desktop app's save dialog.
    const title = t('export.dialog', { sensor: this.sensor, metric: fig.metric, format: format.toUpperCase() });
    const query = { sensor: this.sensor, metric: fig.metric, format, from: to - this.range.ms, to, title };
    const say = (text, state) => {
      setText(fig.status, text);
      fig.status.dataset.state = state;
    };
    for (const b of fig.buttons) b.disabled = true;
    say(t('export.busy'), 'busy');
    try {
      const done = await this.transport.exportFile(query);
      if (!done) {
        // The save dialog was cancelled: nothing to report.
        say('', 'cancelled');
      } else if (done.rows != null) {
        say(t('export.savedRows', { n: formatCount(done.rows), path: done.path }), 'done');
      } else {
        const key = this.transport.kind === 'tauri' ? 'export.saved' : 'export.downloaded';
        say(t(key, { path: done.path, size: formatBytes(done.bytes) }), 'done');
      }
    } catch (e) {
      say(t('export.failed', { message: errorText(e) }), 'error');
    } finally {
      for (const b of fig.buttons) b.disabled = false;
    }
  }

  hover(fig, event) {
    if (!fig.chart || !fig.readings) return;
    const box = fig.art.getBoundingClientRect();
    const scale = fig.chart.width / box.width;
    const x = (event.clientX - box.left) * scale;
    const bucket = bucketAt(x, fig.chart.plot, fig.readings);
    if (!bucket) {
      fig.cursor.hidden = true;
      fig.tip.hidden = true;
      return;
    }
    const unit = fig.readings.unit;
    const show = (v) => formatNumber(convert(v, unit, this.view.tempUnit).value, fig.metric);
    const shownUnit = convert(0, unit, this.view.tempUnit).unit;
    const when = formatTime(bucket.t, Date.now(), fig.readings.bucket_ms < 60_000);
    let text;
    if (bucket.count === 0) text = `${when} · ${t('chart.noReadings')}`;
    else if (bucket.count === 1) text = `${when} · ${show(bucket.mean)} ${shownUnit}`;
    else text = `${when} · ${show(bucket.mean)} ${shownUnit} (${show(bucket.min)}–${show(bucket.max)}, ${t('chart.readings', { n: formatCount(bucket.count) })})`;
    setText(fig.tip, text);
    const px = event.clientX - box.left;
    fig.cursor.style.left = `${px}px`;
    fig.cursor.style.top = `${fig.chart.plot.top / scale}px`;
    fig.cursor.style.height = `${fig.chart.plot.height / scale}px`;
    fig.cursor.hidden = false;
    fig.tip.hidden = false;
    const tipWidth = fig.tip.offsetWidth;
    fig.tip.style.left = `${Math.max(0, Math.min(box.width - tipWidth, px + 12))}px`;
  }
}
