// The sensor cards: one per sensor with its name, each metric's latest value, trend arrow, the
// age of its last reading, and a stale state when it misses its usual interval.

import { h, setText } from './dom.js';
import { t, textOr } from './i18n.js';
import {
  convert,
  elapsed,
  formatAge,
  formatDuration,
  formatInterval,
  formatNumber,
  isStale,
  metricLabel,
  seriesLabel,
  trend,
  trendArrow,
} from './format.js';

export class SensorCards {
  /** `onSelect(sensorId)` is called when a card is clicked or activated with the keyboard. */
  constructor(container, onSelect) {
    this.container = container;
    this.onSelect = onSelect;
    this.cards = new Map();
  }

  /** Brings the cards in line with `sensors` (the app's model, see app.js). */
  render(sensors, view) {
    for (const [id, card] of this.cards) {
      if (!sensors.has(id)) {
        card.root.remove();
        this.cards.delete(id);
      }
    }
    let previous = null;
    for (const [id, sensor] of sensors) {
      let card = this.cards.get(id);
      if (!card) {
        card = this.create(id);
        this.cards.set(id, card);
      }
      // Keep the model's order without moving cards that are already in place.
      const expectedNext = previous ? previous.nextSibling : this.container.firstChild;
      if (expectedNext !== card.root) this.container.insertBefore(card.root, expectedNext);
      previous = card.root;
      this.update(card, sensor, view);
    }
  }

  create(id) {
    const name = h('h3', { class: 'name' });
    const age = h('span', { class: 'age' });
    const ident = h('div', { class: 'ident' });
    const metrics = h('ul', { class: 'metrics' });
    const note = h('div', { class: 'stale-note' });
    const root = h(
      'article',
      {
        class: 'card',
        tabindex: 0,
        role: 'button',
        data: { sensor: id },
        onclick: () => this.onSelect(id),
        onkeydown: (e) => {
          if (e.key === 'Enter' || e.key === ' ') {
            e.preventDefault();
            this.onSelect(id);
          }
        },
      },
      h('header', {}, name, age),
      ident,
      metrics,
      note,
    );
    return { root, name, age, ident, metrics, note, rows: new Map() };
  }

  update(card, sensor, view) {
    const now = view.now;
    // Names and ids come from devices: text only.
    setText(card.name, sensor.name || sensor.sensor);
    const source = textOr(`source.${sensor.source}`, sensor.source);
    setText(card.ident, [sensor.name ? sensor.sensor : null, seriesLabel(sensor.series), source].filter(Boolean).join(' · '));
    const ageMs = sensor.last_seen ? now - sensor.last_seen : null;
    setText(card.age, formatAge(ageMs));
    const interval = view.intervalOf(sensor.sensor);
    const stale = isStale(ageMs, interval);
    card.root.classList.toggle('stale', stale);
    card.root.classList.toggle('selected', view.selected === sensor.sensor);
    card.root.setAttribute('aria-pressed', String(view.selected === sensor.sensor));
    let note = '';
    if (stale) {
      const age = formatDuration(elapsed(ageMs));
      note = interval ? t('card.staleUsually', { age, interval: formatInterval(interval) }) : t('card.stale', { age });
    }
    setText(card.note, note);
    card.root.title = interval ? t('card.reports', { interval: formatInterval(interval) }) : '';

    for (const [metric, row] of card.rows) {
      if (!sensor.metrics.has(metric)) {
        row.root.remove();
        card.rows.delete(metric);
      }
    }
    for (const [metric, m] of sensor.metrics) {
      let row = card.rows.get(metric);
      if (!row) {
        row = {
          label: h('span', { class: 'label' }),
          value: h('span', { class: 'value' }),
          unit: h('span', { class: 'unit' }),
          arrow: h('span', { class: 'trend' }),
        };
        row.root = h('li', { data: { metric } }, row.label, row.value, row.unit, row.arrow);
        card.rows.set(metric, row);
        card.metrics.append(row.root);
      }
      const shown = convert(m.value, m.unit, view.tempUnit);
      setText(row.label, metricLabel(metric));
      setText(row.value, formatNumber(shown.value, metric));
      setText(row.unit, shown.unit);
      const direction = trend(metric, m.value, view.historyOf(sensor.sensor, metric), now);
      setText(row.arrow, trendArrow(direction));
      row.arrow.dataset.trend = direction ?? '';
      row.arrow.title = direction ? t(`trend.${direction}`) : '';
    }
  }
}
