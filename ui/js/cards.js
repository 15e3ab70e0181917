// The sensor cards: one per sensor with its name, each metric's latest value, trend arrow, the
// age of its newest measurement, and a stale state when it misses its usual interval or its
// device's clock disagrees with the time of receipt (then the note gives both times), and a
// mark with the reason when an alert of the sensor fires. Each card has a Compare toggle (up to
// 8 sensors on one chart) and a menu button (rename, calibrate, hide, merge, delete: see
// sensormenu.js).

import { h, setText } from './dom.js';
import { t, textOr } from './i18n.js';
import { cardNote } from './alerts.js';
import {
  clockNote,
  convert,
  elapsed,
  formatAge,
  formatDuration,
  formatInterval,
  formatNumber,
  isStale,
  metricLabel,
  newestMeasured,
  seriesLabel,
  trend,
  trendArrow,
} from './format.js';

/** The name a card shows: the one given on the dashboard, the device's, or the id. */
export function displayName(sensor) {
  return sensor.display_name || sensor.name || sensor.sensor;
}

export class SensorCards {
  /**
   * `onSelect(sensorId)` is called when a card is clicked or activated with the keyboard,
   * `onCompare(sensorId, on)` when its Compare toggle changes, `onMenu(sensorId)` when its menu
   * button is pressed.
   */
  constructor(container, onSelect, onCompare, onMenu) {
    this.container = container;
    this.onSelect = onSelect;
    this.onCompare = onCompare;
    this.onMenu = onMenu;
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
    // The card's own controls: a click on them does not select the card.
    const keep = (e) => e.stopPropagation();
    const compare = h('input', { type: 'checkbox', class: 'compare-toggle', onchange: (e) => this.onCompare(id, e.target.checked) });
    const compareLabel = h('span');
    const menu = h('button', { type: 'button', class: 'card-menu', 'aria-haspopup': 'dialog', onclick: () => this.onMenu(id) }, '⋯');
    const tools = h(
      'footer',
      { class: 'card-tools' },
      h('label', { class: 'compare', onclick: keep, onkeydown: keep }, compare, ' ', compareLabel),
      menu,
    );
    menu.addEventListener('click', keep);
    menu.addEventListener('keydown', keep);
    const alert = h('div', { class: 'alert-note', role: 'status' });
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
      alert,
      metrics,
      note,
      tools,
    );
    return { root, name, age, ident, metrics, note, alert, compare, compareLabel, menu, rows: new Map() };
  }

  update(card, sensor, view) {
    const now = view.now;
    // Names and ids come from devices: text only.
    const shownName = displayName(sensor);
    setText(card.name, shownName);
    const source = textOr(`source.${sensor.source}`, sensor.source);
    setText(card.ident, [shownName !== sensor.sensor ? sensor.sensor : null, seriesLabel(sensor.series), source].filter(Boolean).join(' · '));
    const compared = view.compared.has(sensor.sensor);
    card.compare.checked = compared;
    card.compare.disabled = !compared && view.compared.size >= view.maxCompared;
    setText(card.compareLabel, t('card.compare'));
    card.compare.parentElement.title = card.compare.disabled ? t('compare.full', { n: view.maxCompared }) : t('card.compareHint');
    card.menu.title = t('card.menu', { name: shownName });
    card.menu.setAttribute('aria-label', t('card.menu', { name: shownName }));
    card.root.classList.toggle('hidden-sensor', Boolean(sensor.hidden));
    // The age of the newest measurement, not of the last receipt: a backlog or a slow device
    // clock shows as old. A clock ahead gives no negative age: its note says so.
    const measured = newestMeasured(sensor.metrics.values()) ?? sensor.last_seen;
    const ageMs = measured ? now - measured : null;
    setText(card.age, formatAge(ageMs));
    const interval = view.intervalOf(sensor.sensor);
    const skew = clockNote(sensor.clock, now);
    const stale = isStale(ageMs, interval) || skew != null;
    card.root.classList.toggle('stale', stale);
    card.root.classList.toggle('selected', view.selected === sensor.sensor);
    card.root.setAttribute('aria-pressed', String(view.selected === sensor.sensor));
    let note = skew ?? '';
    if (stale && !skew) {
      const age = formatDuration(elapsed(ageMs));
      note = interval ? t('card.staleUsually', { age, interval: formatInterval(interval) }) : t('card.stale', { age });
    }
    setText(card.note, note);
    // Reasons and rule labels are the engine's text (they may quote a sensor's name): text only.
    const firing = view.firingOf(sensor.sensor);
    card.root.classList.toggle('alerting', firing.length > 0);
    card.root.dataset.alerts = String(firing.length);
    setText(card.alert, firing.map((a) => cardNote(a, now)).join('\n'));
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
          name: h('span'),
          derived: h('small', { class: 'derived' }),
          value: h('span', { class: 'value' }),
          unit: h('span', { class: 'unit' }),
          arrow: h('span', { class: 'trend' }),
          calibrated: h('small', { class: 'calibrated' }),
        };
        row.label = h('span', { class: 'label' }, row.name, ' ', row.derived, row.calibrated);
        row.root = h('li', { data: { metric } }, row.label, row.value, row.unit, row.arrow);
        card.rows.set(metric, row);
        card.metrics.append(row.root);
      }
      const shown = convert(m.value, m.unit, view.tempUnit);
      setText(row.name, metricLabel(metric));
      setText(row.value, formatNumber(shown.value, metric));
      setText(row.unit, shown.unit);
      const direction = trend(metric, m.value, view.historyOf(sensor.sensor, metric), now);
      setText(row.arrow, trendArrow(direction));
      row.arrow.dataset.trend = direction ?? '';
      row.arrow.title = direction ? t(`trend.${direction}`) : '';
      // Dew point and absolute humidity Clima worked out, not what the device said.
      setText(row.derived, m.derived ? t('card.derivedMark') : '');
      row.derived.title = m.derived ? t('card.derived') : '';
      row.root.dataset.derived = String(Boolean(m.derived));
      // Values read through a calibration the user set (stored values stay raw).
      const c = m.calibration;
      setText(row.calibrated, c ? t('card.calibratedMark') : '');
      row.calibrated.title = c ? t('card.calibrated', { offset: c.offset, scale: c.scale }) : '';
      row.root.dataset.calibrated = String(Boolean(c));
    }
  }
}
