// The comparison: one metric of the sensors chosen with the cards' Compare toggles (up to 8)
// on one chart, drawn in Rust like the single charts (one line per sensor, the legend in the
// image, so an exported chart has it too), with the same ranges, and CSV/PNG/SVG exports.

import { h, replace, setText } from './dom.js';
import { RANGES, compareMetrics, formatBytes, formatCount, metricLabel, rangeLabel } from './format.js';
import { displayName } from './cards.js';
import { errorText, language, t } from './i18n.js';
import { parseSvg, showSvg } from './svg.js';

/** Most sensors on one comparison, as the engine allows. */
export const MAX_COMPARED = 8;

/** The metrics the chosen sensors have: those most of them share first, then as on the cards. */
export function sharedMetrics(chosen) {
  const count = new Map();
  for (const s of chosen) for (const m of s.metrics.keys()) count.set(m, (count.get(m) ?? 0) + 1);
  return [...count.entries()]
    .sort(([a, x], [b, y]) => y - x || compareMetrics(a, b))
    .map(([m]) => m);
}

export class ComparePanel {
  /** `onClear()` is called when the user clears the comparison. */
  constructor(root, transport, view, onClear) {
    this.root = root;
    this.transport = transport;
    this.view = view;
    this.ids = [];
    this.metric = null;
    this.generation = 0;
    this.range = RANGES.find((r) => r.id === (localStorage.getItem('clima.compareRange') ?? '24h')) ?? RANGES[2];
    this.title = root.querySelector('#compare-title');
    this.metricSelect = root.querySelector('#compare-metric');
    this.metricSelect.addEventListener('change', () => {
      this.metric = this.metricSelect.value;
      this.refresh();
    });
    root.querySelector('#compare-clear').addEventListener('click', () => onClear());
    const ranges = root.querySelector('#compare-ranges');
    for (const r of RANGES) {
      ranges.append(h('button', { type: 'button', data: { range: r.id }, 'aria-pressed': String(r === this.range), onclick: () => this.setRange(r.id) }, rangeLabel(r)));
    }
    this.ranges = ranges;
    this.art = root.querySelector('#compare-art');
    this.status = h('span', { class: 'export-status', role: 'status' });
    this.buttons = ['csv', 'png', 'svg'].map((f) =>
      h('button', { type: 'button', data: { format: f }, title: t(`compare.export.${f}`), onclick: () => this.exportAs(f) }, f.toUpperCase()),
    );
    root.querySelector('#compare-export').append(t('export.label'), ' ', ...this.buttons, this.status);
    this.lastLoad = 0;
    setInterval(() => {
      if (this.ids.length && Date.now() - this.lastLoad > 60_000) this.refresh();
    }, 5000);
  }

  /** Shows the comparison of `chosen` (model entries, in the order chosen), or hides it. */
  show(chosen) {
    this.root.hidden = chosen.length < 2;
    if (this.root.hidden) {
      this.ids = [];
      return;
    }
    const ids = chosen.map((s) => s.sensor);
    const metrics = sharedMetrics(chosen);
    const metric = metrics.includes(this.metric) ? this.metric : metrics[0];
    const changed = ids.join() !== this.ids.join() || metric !== this.metric;
    const options = metrics.join();
    if (this.metricSelect.dataset.options !== options) {
      this.metricSelect.dataset.options = options;
      replace(this.metricSelect, ...metrics.map((m) => h('option', { value: m }, metricLabel(m))));
    }
    this.metricSelect.value = metric;
    this.ids = ids;
    this.metric = metric;
    this.names = new Map(chosen.map((s) => [s.sensor, displayName(s)]));
    setText(this.title, t('compare.title', { n: ids.length }));
    if (changed) this.refresh();
  }

  setRange(id) {
    this.range = RANGES.find((r) => r.id === id) ?? this.range;
    localStorage.setItem('clima.compareRange', this.range.id);
    for (const b of this.ranges.children) b.setAttribute('aria-pressed', String(b.dataset.range === this.range.id));
    this.refresh();
  }

  /** New readings for `sensorIds`: redraw if one of the compared sensors is among them. */
  onLive(sensorIds) {
    if (!this.ids.some((id) => sensorIds.has(id)) || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.refresh();
    }, Math.max(0, 5000 - (Date.now() - this.lastLoad)));
  }

  query() {
    const to = Date.now();
    return { sensor: this.ids.join(','), metric: this.metric, from: to - this.range.ms, to };
  }

  async refresh() {
    if (this.ids.length < 2 || !this.metric) return;
    this.lastLoad = Date.now();
    const generation = ++this.generation;
    const width = Math.max(320, Math.min(4096, Math.round(this.art.clientWidth || 640)));
    const height = window.innerHeight < 700 ? 200 : 260;
    const q = this.query();
    try {
      const chart = await this.transport.chart({
        ...q,
        points: Math.min(1000, Math.max(60, Math.round(width / 2))),
        width,
        height,
        unit: this.view.tempUnit,
        tz: -new Date().getTimezoneOffset(),
        lang: language(),
      });
      if (generation !== this.generation) return;
      showSvg(this.art, parseSvg(chart.svg));
      const names = this.ids.map((id) => this.names.get(id) ?? id).join(language() === 'ja' ? '、' : ', ');
      this.art.setAttribute('aria-label', t('compare.label', { metric: metricLabel(this.metric), names }));
      this.root.dataset.metric = this.metric;
      this.root.dataset.sensors = this.ids.join(',');
      this.root.classList.remove('error');
    } catch (e) {
      if (generation !== this.generation) return;
      this.root.classList.add('error');
      this.art.replaceChildren();
      this.art.setAttribute('aria-label', t('chart.unavailable', { message: errorText(e) }));
    }
  }

  async exportAs(format) {
    const q = this.query();
    const title = t('compare.dialog', { metric: q.metric, format: format.toUpperCase() });
    const say = (text, state) => {
      setText(this.status, text);
      this.status.dataset.state = state;
    };
    for (const b of this.buttons) b.disabled = true;
    say(t('export.busy'), 'busy');
    try {
      const done = await this.transport.exportFile({ ...q, format, title });
      if (!done) say('', 'cancelled');
      else if (done.rows != null) say(t('export.savedRows', { n: formatCount(done.rows), path: done.path }), 'done');
      else say(t(this.transport.kind === 'tauri' ? 'export.saved' : 'export.downloaded', { path: done.path, size: formatBytes(done.bytes) }), 'done');
    } catch (e) {
      say(t('export.failed', { message: errorText(e) }), 'error');
    } finally {
      for (const b of this.buttons) b.disabled = false;
    }
  }
}
