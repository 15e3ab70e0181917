// Alerts in the page: the list of active alerts and recent transitions (its own panel under the
// cards, kept live by the `alert` event), what a card says about a firing alert, and the Alerts
// section of Settings (rules with their form, presets, webhooks). Its strings are in i18n.js
// under `alerts.`. Rule titles, reasons and sensor names come from the engine or devices: text
// only.

import { byId, h, replace, setText } from './dom.js';
import { formatTime, metricLabel } from './format.js';
import { errorText, t, textOr } from './i18n.js';

/** The conditions a rule may have, in the form's order. */
export const CONDITIONS = ['above', 'below', 'rising', 'falling', 'near_dew_point', 'offline'];

/** The form's fields after sensor and condition, and which conditions use each. */
const FIELDS = [
  ['metric', (c) => c !== 'offline'],
  ['threshold', (c) => c === 'above' || c === 'below' || c === 'near_dew_point'],
  ['amount', (c) => c === 'rising' || c === 'falling'],
  ['window', (c) => c === 'rising' || c === 'falling'],
  ['for', () => true],
  ['hysteresis', (c) => c !== 'offline'],
  ['label', () => true],
];
const NUMBERS = new Set(['threshold', 'amount', 'hysteresis']);

/** Whether the form shows `field` for `condition`. */
export function fieldApplies(field, condition) {
  return FIELDS.find(([f]) => f === field)?.[1](condition) ?? true;
}

/**
 * The rule JSON the API takes, from the form's raw text values: empty fields left out, numbers
 * as numbers (text that is not one is sent as is, so the engine names the field), fields the
 * condition does not use left out.
 */
export function ruleFromForm(values) {
  const condition = values.condition;
  const rule = { sensor: (values.sensor ?? '').trim() || '*', condition, enabled: values.enabled !== false };
  for (const [field, applies] of FIELDS) {
    const raw = String(values[field] ?? '').trim();
    if (!raw || !applies(condition)) continue;
    if (NUMBERS.has(field)) {
      const n = Number(raw.replace(',', '.'));
      rule[field] = Number.isFinite(n) ? n : raw;
    } else {
      rule[field] = raw;
    }
  }
  return rule;
}

/** The form's text values for a rule as the API lists it (or a preset's rule). */
export function formFromRule(rule) {
  const values = { sensor: rule.sensor ?? '*', condition: rule.condition ?? 'above', enabled: rule.enabled !== false };
  for (const [field] of FIELDS) values[field] = rule[field] == null ? '' : String(rule[field]);
  return values;
}

/** A rule's numbers in the page's words ("Humidity above 70 for 6h"). */
export function describeRule(rule) {
  const what = rule.metric ? metricLabel(rule.metric) : '';
  return t(`alerts.describe.${rule.condition}`, {
    metric: what,
    threshold: rule.threshold ?? '',
    amount: rule.amount ?? '',
    window: rule.window ?? '',
  }) + (rule.for ? t('alerts.describe.for', { for: rule.for }) : '') + (rule.condition === 'offline' && !rule.for ? t('alerts.describe.usual') : '');
}

/** Firing alerts by sensor id, from the list's active ones. */
export function firingBySensor(active) {
  const by = new Map();
  for (const a of active ?? []) {
    if (a.state !== 'firing') continue;
    if (!by.has(a.sensor)) by.set(a.sensor, []);
    by.get(a.sensor).push(a);
  }
  return by;
}

/** What a card says about one firing alert: the rule, why (its numbers and the value), since when. */
export function cardNote(a, now) {
  return t('alerts.cardNote', { rule: a.rule, reason: a.reason, since: formatTime(a.since, now, false) });
}

/** One line of the list: state, room, rule and reason, and the time. */
function alertLine(a, now, at) {
  const room = a.name || a.sensor;
  return h(
    'li',
    { class: 'alert-item', data: { state: a.state, sensor: a.sensor, rule: String(a.rule_id) } },
    h('span', { class: 'alert-state' }, textOr(`alerts.state.${a.state}`, a.state)),
    ' ',
    h('strong', {}, room),
    ' · ',
    h('span', {}, a.rule),
    h('span', { class: 'muted' }, ` — ${a.reason}`),
    ' ',
    h('time', { class: 'muted' }, at ? t('alerts.at', { at: formatTime(at, now) }) : t('alerts.since', { since: formatTime(a.since, now) })),
    a.notified === false ? h('span', { class: 'muted' }, ` ${t('alerts.notTold')}`) : null,
  );
}

/**
 * The alert list (active ones and the last transitions), read from the engine at start and
 * again after every `alert` event; `onChange(list)` is told so the cards follow.
 */
export class AlertsView {
  constructor(root, transport, onChange) {
    this.root = root;
    this.transport = transport;
    this.onChange = onChange;
    this.list = { active: [], history: [] };
    this.timer = null;
    this.loading = false;
    this.again = false;
  }

  /** Starts listening, then reads the list (nothing is missed in between). */
  start() {
    this.transport.onAlert(() => this.refreshSoon());
    return this.refresh();
  }

  /** Events come in bursts (one per series): one read after the burst (the engine's list holds
   * every transition it has sent as an event). */
  refreshSoon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), 150);
  }

  async refresh() {
    if (this.loading) {
      this.again = true;
      return;
    }
    this.loading = true;
    try {
      this.list = await this.transport.alerts();
      this.render();
      this.onChange(this.list);
    } catch {
      // An engine without alerts (or not answering): the panel stays as it was.
    } finally {
      this.loading = false;
      if (this.again) {
        this.again = false;
        this.refresh();
      }
    }
  }

  render() {
    const now = Date.now();
    const { active, history } = this.list;
    this.root.hidden = active.length === 0 && history.length === 0;
    setText(byId('alerts-active-count'), t('alerts.activeCount', { n: active.filter((a) => a.state === 'firing').length }));
    replace(
      byId('alerts-active'),
      active.length ? active.map((a) => alertLine(a, now, null)) : h('li', { class: 'muted' }, t('alerts.noneActive')),
    );
    setText(byId('alerts-history-title'), t('alerts.history', { n: history.length }));
    replace(
      byId('alerts-history'),
      history.length ? history.map((a) => alertLine(a, now, a.at)) : h('li', { class: 'muted' }, t('alerts.noHistory')),
    );
  }
}

/** The Alerts section of Settings: rules, the form, presets and webhooks. */
export class AlertSettings {
  /** `sensorIds()` lists the sensors known to the page, for the form's suggestions. */
  constructor(transport, sensorIds) {
    this.transport = transport;
    this.sensorIds = sensorIds;
    /** The rule being edited (its id), or null for a new one. */
    this.editing = null;
    this.values = formFromRule({ sensor: '*', metric: 'humidity', condition: 'above' });
  }

  async refresh() {
    const box = byId('alert-settings');
    let rules;
    let presets;
    let webhooks;
    try {
      [{ rules }, { presets }, { webhooks }] = await Promise.all([
        this.transport.alertRules(),
        this.transport.alertPresets(),
        this.transport.alertWebhooks(),
      ]);
    } catch (e) {
      replace(box, h('p', { class: 'error' }, `${t('alerts.unavailable')} ${errorText(e)}`));
      return;
    }
    replace(
      box,
      h('h4', {}, t('alerts.rules')),
      rules.length ? h('ul', { class: 'alert-rules' }, rules.map((r) => this.ruleRow(r))) : h('p', { class: 'muted' }, t('alerts.noRules')),
      h('h4', {}, t('alerts.presets')),
      h('p', { class: 'muted' }, t('alerts.presetsHelp')),
      h('div', { class: 'alert-presets' }, presets.map((p) => this.presetButton(p))),
      this.form(),
      h('h4', {}, t('alerts.webhooks')),
      this.webhooks(webhooks),
    );
  }

  ruleRow(r) {
    const enabled = h('input', { type: 'checkbox', checked: r.enabled !== false, 'aria-label': t('alerts.enabled') });
    const error = h('span', { class: 'error' });
    enabled.addEventListener('change', async () => {
      const { id, title, ...rule } = r;
      try {
        await this.transport.updateAlertRule(id, { ...rule, enabled: enabled.checked });
        await this.refresh();
      } catch (e) {
        enabled.checked = !enabled.checked;
        setText(error, errorText(e));
      }
    });
    const edit = h('button', { type: 'button' }, t('alerts.edit'));
    edit.addEventListener('click', () => {
      this.editing = r.id;
      this.values = formFromRule(r);
      this.refresh().then(() => byId('alert-form')?.scrollIntoView({ block: 'nearest' }));
    });
    const remove = h('button', { type: 'button' }, t('alerts.delete'));
    remove.addEventListener('click', async () => {
      try {
        await this.transport.deleteAlertRule(r.id);
        if (this.editing === r.id) this.editing = null;
        await this.refresh();
      } catch (e) {
        setText(error, errorText(e));
      }
    });
    const sensor = r.sensor === '*' ? t('alerts.everySensor') : r.sensor;
    return h(
      'li',
      { class: 'alert-rule', data: { rule: String(r.id) } },
      h('label', { class: 'check' }, enabled, ' ', h('strong', {}, r.label || describeRule(r))),
      h('span', { class: 'muted' }, ` ${sensor} · ${describeRule(r)}`),
      ' ',
      edit,
      remove,
      error,
    );
  }

  presetButton(p) {
    const name = textOr(`alerts.preset.${p.id}`, p.title);
    return h(
      'button',
      {
        type: 'button',
        class: 'preset',
        data: { preset: p.id },
        onclick: () => {
          this.editing = null;
          this.values = formFromRule({ ...p.rule, label: name });
          this.refresh().then(() => byId('alert-form')?.querySelector('[name="threshold"], [name="for"]')?.focus());
        },
      },
      h('strong', {}, name),
      h('small', {}, describeRule(p.rule)),
    );
  }

  form() {
    const v = this.values;
    const errors = new Map();
    const inputs = new Map();
    const row = (field, control) => {
      const error = h('span', { class: 'error field-error', data: { field } });
      errors.set(field, error);
      return h('label', { class: 'field', data: { field } }, h('span', {}, t(`alerts.field.${field}`)), control, error);
    };
    const text = (field, attrs = {}) => {
      const input = h('input', { name: field, value: v[field] ?? '', autocomplete: 'off', spellcheck: 'false', ...attrs });
      inputs.set(field, input);
      return input;
    };
    const sensors = h('datalist', { id: 'alert-sensors' }, h('option', { value: '*' }), this.sensorIds().map((id) => h('option', { value: id })));
    const metrics = h(
      'datalist',
      { id: 'alert-metrics' },
      ['temperature', 'humidity', 'co2', 'pressure', 'dew_point'].map((m) => h('option', { value: m }, metricLabel(m))),
    );
    const condition = h(
      'select',
      { name: 'condition' },
      CONDITIONS.map((c) => h('option', { value: c, selected: c === v.condition }, t(`alerts.condition.${c}`))),
    );
    inputs.set('condition', condition);
    const enabled = h('input', { type: 'checkbox', name: 'enabled', checked: v.enabled !== false });
    const rows = [
      row('sensor', text('sensor', { list: 'alert-sensors', placeholder: t('alerts.placeholder.sensor') })),
      row('condition', condition),
      row('metric', text('metric', { list: 'alert-metrics', placeholder: 'humidity' })),
      row('threshold', text('threshold', { inputmode: 'decimal', placeholder: '70' })),
      row('amount', text('amount', { inputmode: 'decimal', placeholder: '3' })),
      row('window', text('window', { placeholder: '10m' })),
      row('for', text('for', { placeholder: '6h' })),
      row('hysteresis', text('hysteresis', { inputmode: 'decimal', placeholder: t('alerts.placeholder.hysteresis') })),
      row('label', text('label', { placeholder: t('alerts.placeholder.label') })),
    ];
    const help = h('p', { class: 'muted' });
    const showFields = () => {
      for (const r of rows) {
        const field = r.dataset.field;
        if (field !== 'sensor' && field !== 'condition') r.hidden = !fieldApplies(field, condition.value);
      }
      setText(help, t(`alerts.help.${condition.value}`));
    };
    condition.addEventListener('change', showFields);
    showFields();
    // What is typed survives the section being redrawn (a rule switched off, a webhook added).
    const keep = () => {
      this.values = { enabled: enabled.checked };
      for (const [field, input] of inputs) this.values[field] = input.value;
    };
    const general = h('p', { class: 'error', role: 'status' });
    const save = h('button', { type: 'submit', class: 'primary' }, this.editing == null ? t('alerts.add') : t('alerts.save'));
    const cancel = this.editing == null ? null : h('button', { type: 'button', onclick: () => this.cancel() }, t('alerts.cancel'));
    const form = h(
      'form',
      { id: 'alert-form', class: 'alert-form', novalidate: true },
      h('h4', {}, this.editing == null ? t('alerts.newRule') : t('alerts.editRule')),
      sensors,
      metrics,
      rows,
      help,
      h('p', { class: 'muted' }, t('alerts.units')),
      h('label', { class: 'check' }, enabled, ' ', t('alerts.enabled')),
      h('div', { class: 'inline' }, save, cancel),
      general,
    );
    form.addEventListener('input', keep);
    form.addEventListener('change', keep);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      keep();
      const values = this.values;
      for (const el of errors.values()) setText(el, '');
      setText(general, '');
      const rule = ruleFromForm(values);
      try {
        if (this.editing == null) await this.transport.createAlertRule(rule);
        else await this.transport.updateAlertRule(this.editing, rule);
      } catch (err) {
        // The engine names the field at fault: the message goes next to it.
        const beside = errors.get(err.field);
        if (beside && !beside.closest('label').hidden) {
          setText(beside, errorText(err));
          inputs.get(err.field)?.focus();
        } else {
          setText(general, errorText(err));
        }
        return;
      }
      this.editing = null;
      this.values = formFromRule({ sensor: '*', metric: 'humidity', condition: 'above' });
      await this.refresh();
    });
    return form;
  }

  cancel() {
    this.editing = null;
    this.values = formFromRule({ sensor: '*', metric: 'humidity', condition: 'above' });
    this.refresh();
  }

  webhooks(list) {
    const input = h('input', { type: 'url', id: 'webhook-url', placeholder: 'https://ntfy.sh/TOPIC', 'aria-label': t('alerts.webhookUrl') });
    const error = h('p', { class: 'error', role: 'status' });
    const add = h('button', { type: 'button' }, t('alerts.addWebhook'));
    add.addEventListener('click', async () => {
      try {
        await this.transport.addAlertWebhook(input.value.trim());
        await this.refresh();
      } catch (e) {
        setText(error, errorText(e));
      }
    });
    const rows = list.map((w) => {
      const item = h(
        'li',
        { class: 'webhook', data: { format: w.format } },
        h('code', {}, w.url),
        ' ',
        h('span', { class: 'muted' }, t(`alerts.webhookFormat.${w.format}`)),
      );
      if (w.origin === 'settings' && w.id != null) {
        const remove = h('button', { type: 'button' }, t('alerts.removeWebhook'));
        remove.addEventListener('click', async () => {
          try {
            await this.transport.removeAlertWebhook(w.id);
            await this.refresh();
          } catch (e) {
            setText(error, errorText(e));
          }
        });
        item.append(' ', remove);
      } else {
        item.append(' ', h('span', { class: 'muted' }, t('alerts.fromCommandLine')));
      }
      return item;
    });
    return [
      h('p', { class: 'muted' }, t('alerts.webhooksHelp')),
      rows.length ? h('ul', { class: 'webhooks' }, rows) : h('p', { class: 'muted' }, t('alerts.noWebhooks')),
      h('div', { class: 'inline' }, input, add),
      error,
    ];
  }
}
