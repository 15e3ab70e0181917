// A sensor's menu, opened from its card: the name shown on the dashboard, each metric's
// calibration (and its raw values as CSV), hiding it, merging its history into another sensor
// (a device whose id changed) and deleting it with its data, each after a confirmation.

import { h, replace, setText } from './dom.js';
import { displayName } from './cards.js';
import { formatCount, metricLabel } from './format.js';
import { errorText, t } from './i18n.js';

/** Raw exports from the menu cover this much history. */
const RAW_EXPORT_MS = 30 * 86_400_000;

export class SensorMenu {
  /** `onChanged(change)` reloads the dashboard after an action (`{deleted}`, `{merged}`...). */
  constructor(dialog, transport, onChanged) {
    this.dialog = dialog;
    this.transport = transport;
    this.onChanged = onChanged;
    this.body = dialog.querySelector('#sensor-menu-body');
    this.heading = dialog.querySelector('#sensor-menu-title');
    this.status = dialog.querySelector('#sensor-menu-status');
    dialog.querySelector('#sensor-menu-close').addEventListener('click', () => this.close());
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  say(text, state = 'done') {
    setText(this.status, text);
    this.status.dataset.state = state;
  }

  /** Runs an action, says how it went, and reloads the dashboard after it succeeded. */
  async act(action, done, change = {}) {
    this.say(t('menu.busy'), 'busy');
    try {
      const answer = await action();
      this.say(done(answer), 'done');
      await this.onChanged(change);
      return true;
    } catch (e) {
      this.say(errorText(e), 'error');
      return false;
    }
  }

  /** Opens the menu of `sensor` (the app's model entry); `others` are the sensors it can merge into. */
  open(sensor, others) {
    const id = sensor.sensor;
    setText(this.heading, displayName(sensor));
    this.say('', 'idle');

    const nameInput = h('input', { type: 'text', id: 'menu-name', maxlength: 100, value: sensor.display_name ?? '', placeholder: sensor.name || id });
    const naming = h(
      'form',
      {
        class: 'menu-row',
        onsubmit: (e) => {
          e.preventDefault();
          this.act(() => this.transport.renameSensor(id, nameInput.value), (a) => (a.name ? t('menu.renamed', { name: a.name }) : t('menu.nameCleared')));
        },
      },
      h('label', { for: 'menu-name' }, t('menu.name')),
      nameInput,
      h('button', { type: 'submit' }, t('menu.save')),
    );

    const calibrations = [...sensor.metrics.values()].filter((m) => !m.derived).map((m) => this.calibrationRow(id, m));

    const hide = h(
      'button',
      {
        type: 'button',
        id: 'menu-hide',
        onclick: () =>
          this.act(() => this.transport.hideSensor(id, !sensor.hidden), () => (sensor.hidden ? t('menu.shown') : t('menu.hidden')), { hidden: id }).then((ok) => ok && this.close()),
      },
      sensor.hidden ? t('menu.show') : t('menu.hide'),
    );

    const target = h('select', { id: 'menu-merge-into' }, others.map((o) => h('option', { value: o.sensor }, `${displayName(o)} (${o.sensor})`)));
    const mergeConfirm = h('div', { class: 'confirm', hidden: true });
    const merge = h(
      'div',
      { class: 'menu-row' },
      h('label', { for: 'menu-merge-into' }, t('menu.mergeInto')),
      target,
      h(
        'button',
        {
          type: 'button',
          id: 'menu-merge',
          disabled: others.length === 0,
          onclick: () => {
            const into = target.value;
            mergeConfirm.hidden = false;
            replace(
              mergeConfirm,
              h('p', {}, t('menu.mergeQuestion', { from: id, into })),
              h(
                'button',
                {
                  type: 'button',
                  class: 'danger',
                  id: 'menu-merge-confirm',
                  onclick: () =>
                    this.act(
                      () => this.transport.mergeSensors(id, into),
                      (a) => t('menu.merged', { n: formatCount(a.accepted), duplicates: formatCount(a.duplicates), conflicts: formatCount(a.conflicts) }),
                      { merged: id, into },
                    ),
                },
                t('menu.mergeConfirm'),
              ),
              ' ',
              h('button', { type: 'button', onclick: () => (mergeConfirm.hidden = true) }, t('menu.cancel')),
            );
          },
        },
        t('menu.merge'),
      ),
    );

    const typed = h('input', { type: 'text', id: 'menu-delete-id', autocomplete: 'off', spellcheck: 'false' });
    const really = h(
      'button',
      {
        type: 'button',
        class: 'danger',
        id: 'menu-delete-confirm',
        disabled: true,
        onclick: () =>
          this.act(() => this.transport.deleteSensor(id, typed.value), () => t('menu.deleted', { id }), { deleted: id }).then((ok) => ok && this.close()),
      },
      t('menu.deleteConfirm'),
    );
    typed.addEventListener('input', () => (really.disabled = typed.value !== id));
    const deleteConfirm = h('div', { class: 'confirm', hidden: true }, h('label', { for: 'menu-delete-id' }, t('menu.deleteQuestion', { id })), typed, really);
    const del = h(
      'div',
      { class: 'menu-row' },
      h('button', { type: 'button', id: 'menu-delete', onclick: () => ((deleteConfirm.hidden = false), typed.focus()) }, t('menu.delete')),
    );

    replace(
      this.body,
      h('section', {}, h('h3', {}, t('menu.nameTitle')), naming),
      h('section', {}, h('h3', {}, t('menu.calibrationTitle')), h('p', { class: 'muted' }, t('menu.calibrationHelp')), calibrations),
      h('section', {}, h('h3', {}, t('menu.dashboardTitle')), hide),
      h('section', {}, h('h3', {}, t('menu.mergeTitle')), h('p', { class: 'muted' }, t('menu.mergeHelp')), merge, mergeConfirm),
      h('section', {}, h('h3', {}, t('menu.deleteTitle')), del, deleteConfirm),
    );
    this.dialog.dataset.menuSensor = id;
    if (!this.dialog.open) this.dialog.showModal();
  }

  /** One metric's offset and scale, saved together; and its raw values as CSV. */
  calibrationRow(id, m) {
    const c = m.calibration ?? { offset: 0, scale: 1 };
    const offset = h('input', { type: 'number', step: 'any', value: c.offset, class: 'offset', 'aria-label': t('menu.offset') });
    const scale = h('input', { type: 'number', step: 'any', value: c.scale, class: 'scale', 'aria-label': t('menu.scale') });
    return h(
      'form',
      {
        class: 'menu-row calibration',
        data: { metric: m.metric },
        onsubmit: (e) => {
          e.preventDefault();
          this.act(
            () => this.transport.setCalibration({ sensor: id, metric: m.metric, offset: Number(offset.value || 0), scale: Number(scale.value || 1) }),
            (a) => t('menu.calibrated', { metric: metricLabel(m.metric), offset: a.offset, scale: a.scale }),
          );
        },
      },
      h('span', { class: 'metric' }, metricLabel(m.metric)),
      h('label', {}, t('menu.offset'), ' ', offset),
      h('label', {}, t('menu.scale'), ' ', scale),
      h('button', { type: 'submit' }, t('menu.save')),
      h(
        'button',
        {
          type: 'button',
          class: 'raw',
          title: t('menu.rawHint'),
          onclick: async () => {
            const to = Date.now();
            try {
              const done = await this.transport.exportFile({
                sensor: id,
                metric: m.metric,
                format: 'csv',
                from: to - RAW_EXPORT_MS,
                to,
                raw: true,
                title: t('export.dialog', { sensor: id, metric: m.metric, format: 'CSV' }),
              });
              if (done) this.say(t('menu.rawSaved', { path: done.path }));
            } catch (e) {
              this.say(errorText(e), 'error');
            }
          },
        },
        t('menu.raw'),
      ),
    );
  }
}
