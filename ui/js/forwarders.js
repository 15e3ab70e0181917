// The forwarders list in Settings: each outside database Clima forwards to, its state and lag,
// a field to add one and a button to remove one added here. Its strings are in i18n.js under
// `forward.`. Targets and errors are shown as text only (an error may quote a sensor's name).

import { byId, h, replace } from './dom.js';
import { formatCount, formatTime } from './format.js';
import { errorText, t, textOr } from './i18n.js';

/** One forwarder's summary line: state and lag, as the list shows it. */
export function summary(f) {
  const state = textOr(`forward.state.${f.state}`, f.state);
  const lag = f.lag_readings === 0
    ? t('forward.upToDate')
    : t('forward.behind', { n: formatCount(f.lag_readings), seconds: formatCount(Math.round(f.lag_seconds)) });
  const parts = [state, lag];
  if (f.lost > 0) parts.push(t('forward.lost', { n: formatCount(f.lost) }));
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
      replace(box, h('p', { class: 'error' }, `${t('forward.unavailable')} ${errorText(e)}`));
      return;
    }
    const input = h('input', { type: 'url', placeholder: t('forward.placeholder'), 'aria-label': t('forward.placeholder') });
    const error = h('p', { class: 'error', hidden: true });
    const add = h('button', { type: 'button' }, t('forward.add'));
    add.addEventListener('click', async () => {
      try {
        await this.transport.addForwarder(input.value.trim());
        await this.refresh();
      } catch (e) {
        error.hidden = false;
        error.textContent = errorText(e);
      }
    });
    const rows = forwarders.map((f) => this.row(f));
    replace(box, ...(rows.length ? rows : [h('p', { class: 'muted' }, t('forward.none'))]), h('div', { class: 'inline' }, input, add), error);
  }

  row(f) {
    const item = h('div', { class: 'forwarder' }, h('code', {}, f.target), h('p', {}, summary(f)));
    if (f.last_error) item.append(h('p', { class: 'muted' }, t('forward.lastError', { at: formatTime(f.last_error_at), message: f.last_error })));
    if (f.origin === 'settings') {
      const remove = h('button', { type: 'button' }, t('forward.remove'));
      remove.addEventListener('click', async () => {
        await this.transport.removeForwarder(f.id);
        await this.refresh();
      });
      item.append(remove);
    } else {
      item.append(h('p', { class: 'muted' }, t('forward.fromCommandLine')));
    }
    return item;
  }
}
