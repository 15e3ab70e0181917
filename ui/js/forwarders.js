// The forwarders list in Settings: each outside database Clima forwards to, its state and lag,
// a field to add one and a button to remove one added here. Every string it shows is in TEXT.
// Targets and errors are shown as text only (an error may quote a sensor's name).

import { byId, h, replace } from './dom.js';
import { formatTime } from './format.js';

export const TEXT = {
  none: 'No forwarders. Add an InfluxDB, VictoriaMetrics or MQTT address to send every reading there too.',
  unavailable: 'This Clima cannot list its forwarders.',
  placeholder: 'http://HOST:8086/write?db=clima or mqtt://HOST:1883/clima',
  add: 'Add',
  remove: 'Remove',
  fromCommandLine: 'given with --forward',
  states: { connected: 'connected', retrying: 'retrying', starting: 'starting' },
  lag: (readings, seconds) => (readings === 0 ? 'up to date' : `${readings} readings behind (${Math.round(seconds)} s)`),
  lastError: (message, at) => `last error ${formatTime(at)}: ${message}`,
  lost: (n) => `${n} readings removed by retention before they could be sent`,
};

/** One forwarder's summary line: state and lag, as the list shows it. */
export function summary(f) {
  const state = TEXT.states[f.state] ?? f.state;
  const parts = [state, TEXT.lag(f.lag_readings, f.lag_seconds)];
  if (f.lost > 0) parts.push(TEXT.lost(f.lost));
  return parts.join(' · ');
}

export class ForwardersList {
  constructor(transport) {
    this.transport = transport;
  }

  async refresh() {
    const box = byId('forwarders');
    let forwarders;
    try {
      ({ forwarders } = await this.transport.forwarders());
    } catch (e) {
      replace(box, h('p', { class: 'error' }, `${TEXT.unavailable} ${e.message}`));
      return;
    }
    const input = h('input', { type: 'url', placeholder: TEXT.placeholder, 'aria-label': TEXT.placeholder });
    const error = h('p', { class: 'error', hidden: true });
    const add = h('button', { type: 'button' }, TEXT.add);
    add.addEventListener('click', async () => {
      try {
        await this.transport.addForwarder(input.value.trim());
        await this.refresh();
      } catch (e) {
        error.hidden = false;
        error.textContent = e.message;
      }
    });
    const rows = forwarders.map((f) => this.row(f));
    replace(box, ...(rows.length ? rows : [h('p', { class: 'muted' }, TEXT.none)]), h('div', { class: 'inline' }, input, add), error);
  }

  row(f) {
    const item = h('div', { class: 'forwarder' }, h('code', {}, f.target), h('p', {}, summary(f)));
    if (f.last_error) item.append(h('p', { class: 'muted' }, TEXT.lastError(f.last_error, f.last_error_at)));
    if (f.origin === 'settings') {
      const remove = h('button', { type: 'button' }, TEXT.remove);
      remove.addEventListener('click', async () => {
        await this.transport.removeForwarder(f.id);
        await this.refresh();
      });
      item.append(remove);
    } else {
      item.append(h('p', { class: 'muted' }, TEXT.fromCommandLine));
    }
    return item;
  }
}
