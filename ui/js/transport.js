// The one place that knows where the page runs: in the desktop window it calls the app through
// Tauri IPC and listens to its events; in a browser it uses the HTTP API with fetch and
// EventSource. Both answer in the same shapes, and both fail with {kind, message}.

import { exportFileName } from './format.js';

const TOKEN_KEY = 'clima.token';

/** An error from either side, shaped like the shell's `{kind, message}`. */
export class ApiError extends Error {
  constructor(kind, message, status, field) {
    super(message);
    this.kind = kind;
    this.status = status;
    /** The request's field at fault, where the engine names one (a bad alert rule). */
    this.field = field ?? null;
  }
}

/**
 * The field an `invalid_rule` error names: the HTTP API sends it apart, the desktop app's
 * message starts with it ("threshold: missing: ...").
 */
export function faultyField(kind, message, field) {
  if (field) return field;
  if (kind !== 'invalid_rule') return null;
  return /^([a-z_]+): /.exec(String(message ?? ''))?.[1] ?? null;
}

/**
 * `href` with its `token` query parameter, if it has one, set to `token`: the address bar must
 * not keep offering a token that no longer works. Anything else in the address is kept.
 */
export function withToken(href, token) {
  const url = new URL(href);
  if (!url.searchParams.has('token')) return href;
  url.searchParams.set('token', token);
  return url.href;
}

/**
 * What a `/healthz` answer says about the store: the reason it cannot write ('' if none given),
 * or null. Only Clima's own 503 counts (`{"status": "store_unavailable", "message"}`); a
 * proxy's 503 page means Clima is unreachable, which the connection badge shows.
 */
export function storeProblemFrom(status, body) {
  if (status !== 503 || body?.status !== 'store_unavailable') return null;
  // No reason given: the banner says so in the page's language.
  return typeof body.message === 'string' ? body.message.trim() : '';
}

export function createTransport() {
  const tauri = window.__TAURI__;
  return tauri && tauri.core ? tauriTransport(tauri) : httpTransport();
}

function tauriTransport(tauri) {
  const call = async (cmd, args) => {
    try {
      return await tauri.core.invoke(cmd, args);
    } catch (e) {
      const kind = e?.kind ?? 'ipc';
      const message = e?.message ?? String(e);
      throw new ApiError(kind, message, undefined, faultyField(kind, message));
    }
  };
  return {
    kind: 'tauri',
    status: () => call('status'),
    sensors: () => call('sensors'),
    readings: (q) => call('readings', q),
    chart: (q) => call('chart', q),
    /**
     * Exports `{sensor, metric, format, from, to}` to a file the user picks in the app's save
     * dialog titled `title`: `{path, format, rows, bytes}`, or null when the dialog was cancelled.
     */
    exportFile: (q) => call('export', q),
    /** Sets `{sensor, metric, offset, scale}` (offset 0 and scale 1 remove it). */
    setCalibration: (c) => call('set_calibration', c),
    renameSensor: (sensor, name) => call('rename_sensor', { sensor, name }),
    hideSensor: (sensor, hidden) => call('hide_sensor', { sensor, hidden }),
    /** Deletes a sensor and all its data: `confirm` must repeat its id. */
    deleteSensor: (sensor, confirm) => call('delete_sensor', { sensor, confirm }),
    /** Moves `from`'s history into `into`: `{accepted, duplicates, conflicts}`. */
    mergeSensors: (from, into) => call('merge_sensors', { from, into }),
    ports: () => call('ports'),
    portAction: (action, id) => call('port_action', { action, id }),
    /** Sets a board's `{temperature_unit: 'C'|'F'|null, ignore: ['sensor/metric']}`. */
    portSettings: (id, settings) => call('port_settings', { id, settings }),
    forwarders: () => call('forwarders'),
    addForwarder: (url) => call('add_forwarder', { url }),
    removeForwarder: (id) => call('remove_forwarder', { id }),
    alertRules: () => call('alert_rules'),
    createAlertRule: (rule) => call('create_alert_rule', { rule }),
    updateAlertRule: (id, rule) => call('update_alert_rule', { id, rule }),
    deleteAlertRule: (id) => call('delete_alert_rule', { id }),
    alertPresets: () => call('alert_presets'),
    /** `{active, history}`: alerts pending or firing, and the last 200 transitions. */
    alerts: () => call('alerts'),
    alertWebhooks: () => call('alert_webhooks'),
    addAlertWebhook: (url) => call('add_alert_webhook', { url }),
    removeAlertWebhook: (id) => call('remove_alert_webhook', { id }),
    /** Calls `onAlert(alert)` for every alert transition (the app's `alert` event). */
    onAlert(onAlert) {
      tauri.event.listen('alert', (event) => onAlert(event.payload)).catch(() => {});
    },
    /** Calls `onFocus(sensorId)` when a notification of that sensor was clicked. */
    onFocusSensor(onFocus) {
      tauri.event.listen('focus-sensor', (event) => onFocus(event.payload)).catch(() => {});
    },
    demoAvailable: async () => (await call('demo', { start: false })).available === true,
    startDemo: () => call('demo', { start: true }),
    setUpdateInterval: (ms) => call('set_update_interval', { ms }),
    painted: () => call('painted'),
    /** Why the database cannot be written right now, or null. */
    storeProblem: async () => (await call('status')).store_problem ?? null,
    /** Replaces the app's token; the page itself talks over IPC and needs none. */
    regenerateToken: async () => (await call('regenerate_token')).token,
    /** `{tray_available, keep_in_tray, autostart}`: what closing the window and logging in do. */
    background: () => call('background'),
    /** Changes `{keep_in_tray?, autostart?}`; answers the new state. */
    setBackground: (change) => call('set_background', change),
    needsToken: () => false,
    setToken: () => {},
    /** Calls `onUpdate({readings, skipped})` for each coalesced update from the app. */
    subscribe(onUpdate, onState) {
      let unlisten = null;
      tauri.event
        .listen('live-readings', (event) => onUpdate(event.payload))
        .then((f) => {
          unlisten = f;
          onState('live');
        })
        .catch((e) => onState('offline', String(e)));
      return () => unlisten && unlisten();
    },
  };
}

function httpTransport() {
  // A ?token= link works once: the page keeps the token and takes it out of the address bar.
  const url = new URL(window.location.href);
  const fromLink = url.searchParams.get('token');
  if (fromLink) {
    localStorage.setItem(TOKEN_KEY, fromLink);
    url.searchParams.delete('token');
    history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
  let token = localStorage.getItem(TOKEN_KEY) || '';
  let needsToken = false;
  /** The live subscription: `{onUpdate, onState, source}`, reopened when the token changes. */
  let stream = null;
  /** Who hears the stream's `alert` events. */
  const alertListeners = [];

  const request = async (method, path, params, body) => {
    const target = new URL(path, window.location.origin);
    for (const [k, v] of Object.entries(params ?? {})) {
      if (v != null) target.searchParams.set(k, String(v));
    }
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response;
    try {
      response = await fetch(target, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new ApiError('offline', `Clima does not answer at ${window.location.host}: ${e.message}`);
    }
    if (!response.ok) {
      let info = {};
      try {
        info = await response.json();
      } catch {
        // Not JSON: keep the status alone.
      }
      if (response.status === 401) needsToken = true;
      const kind = info.error ?? `http_${response.status}`;
      const message = info.message ?? `HTTP ${response.status}`;
      throw new ApiError(kind, message, response.status, faultyField(kind, message, info.field));
    }
    needsToken = false;
    return response;
  };
  const json = async (method, path, params, body) => (await request(method, path, params, body)).json();

  /** Sends `value` from now on and keeps it for the next visit (none if empty). */
  const keepToken = (value) => {
    token = value.trim();
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  };

  /** (Re)opens the live stream with the current token: EventSource cannot send headers, so the
   * stream URL carries it. */
  const openStream = () => {
    const { onUpdate, onState } = stream;
    if (stream.source) {
      stream.source.close();
      // Back to live from here reloads the sensors, so what arrived in between is not missed.
      onState('reconnecting');
    }
    const target = new URL('/api/v1/stream', window.location.origin);
    if (token) target.searchParams.set('token', token);
    const source = new EventSource(target);
    source.addEventListener('hello', () => onState('live'));
    source.addEventListener('readings', (event) => {
      try {
        onUpdate(JSON.parse(event.data));
      } catch {
        // A malformed event is skipped; the next one carries the newest values anyway.
      }
    });
    source.addEventListener('alert', (event) => {
      let alert;
      try {
        alert = JSON.parse(event.data);
      } catch {
        // A malformed event is skipped; the alert list is read again on the next one.
        return;
      }
      for (const f of alertListeners) f(alert);
    });
    source.onerror = () => onState(source.readyState === EventSource.CLOSED ? 'offline' : 'reconnecting');
    stream.source = source;
  };

  return {
    kind: 'http',
    async status() {
      return {
        listen: window.location.host,
        port: Number(window.location.port) || (window.location.protocol === 'https:' ? 443 : 80),
        addresses: [window.location.host],
        token: token || null,
        // Unknown here: the server answers 409 when its token was given with --token.
        token_regenerable: null,
        db: null,
        version: null,
      };
    },
    sensors: () => json('GET', '/api/v1/sensors'),
    readings: (q) => json('GET', '/api/v1/readings', q),
    async chart(q) {
      const response = await request('GET', '/api/v1/chart.svg', q);
      const [left, top, width, height] = (response.headers.get('X-Clima-Plot-Area') ?? '0,0,0,0').split(',').map(Number);
      return { svg: await response.text(), plot: { left, top, width, height } };
    },
    /**
     * Downloads `{sensor, metric, format, from, to}` from the export routes (no dialog, so no
     * title), with the token in the header like every other request (so not as a plain link):
     * `{path, format, rows, bytes}` where `path` is the suggested file name and `rows` is unknown.
     */
    async exportFile({ sensor, metric, format, from, to, raw }) {
      const response = await request('GET', `/api/v1/export.${format}`, { sensor, metric, from, to, raw: raw ? 'true' : null });
      const calibration = response.headers.get('X-Clima-Calibration');
      const blob = await response.blob();
      const name = exportFileName(sensor, metric, from, to, format);
      const link = document.createElement('a');
      link.href = URL.createObjectURL(blob);
      link.download = name;
      link.hidden = true;
      document.body.append(link);
      link.click();
      link.remove();
      // The download has taken the blob by now; a minute is generous for a slow disk.
      setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
      return { path: name, format, rows: null, bytes: blob.size, calibration };
    },
    setCalibration: (c) => json('POST', '/api/v1/sensors/calibration', null, c),
    renameSensor: (sensor, name) => json('POST', '/api/v1/sensors/name', null, { sensor, name }),
    hideSensor: (sensor, hidden) => json('POST', '/api/v1/sensors/hidden', null, { sensor, hidden }),
    deleteSensor: (sensor, confirm) => json('DELETE', `/api/v1/sensors/${encodeURIComponent(sensor)}`, { confirm }),
    mergeSensors: (from, into) => json('POST', '/api/v1/sensors/merge', null, { from, into }),
    ports: () => json('GET', '/api/v1/ports'),
    portAction: (action, id) => json('POST', `/api/v1/ports/${action}`, null, { id }),
    portSettings: (id, settings) => json('POST', '/api/v1/ports/settings', null, { id, ...settings }),
    forwarders: () => json('GET', '/api/v1/forwarders'),
    addForwarder: (url) => json('POST', '/api/v1/forwarders', null, { url }),
    removeForwarder: (id) => json('POST', '/api/v1/forwarders/remove', null, { id }),
    alertRules: () => json('GET', '/api/v1/alerts/rules'),
    createAlertRule: (rule) => json('POST', '/api/v1/alerts/rules', null, rule),
    updateAlertRule: (id, rule) => json('PUT', `/api/v1/alerts/rules/${encodeURIComponent(id)}`, null, rule),
    deleteAlertRule: (id) => json('DELETE', `/api/v1/alerts/rules/${encodeURIComponent(id)}`),
    alertPresets: () => json('GET', '/api/v1/alerts/presets'),
    alerts: () => json('GET', '/api/v1/alerts'),
    alertWebhooks: () => json('GET', '/api/v1/alerts/webhooks'),
    addAlertWebhook: (url) => json('POST', '/api/v1/alerts/webhooks', null, { url }),
    removeAlertWebhook: (id) => json('DELETE', `/api/v1/alerts/webhooks/${encodeURIComponent(id)}`),
    /** Calls `onAlert(alert)` for every `alert` event of the live stream. */
    onAlert(onAlert) {
      alertListeners.push(onAlert);
    },
    // Notifications are the desktop app's: nothing to focus from here.
    onFocusSensor() {},
    async demoAvailable() {
      // The demo route takes POST only: a 405 to GET means it is there, without starting it.
      try {
        await request('GET', '/api/v1/demo');
        return true;
      } catch (e) {
        return e.status === 405;
      }
    },
    startDemo: () => json('POST', '/api/v1/demo', null, {}),
    // The server's stream has its own interval; the page coalesces further when asked.
    setUpdateInterval: async (ms) => ms,
    painted: async () => null,
    needsToken: () => needsToken,
    setToken: keepToken,
    /** Why the database cannot be written right now (from `/healthz`, which needs no token), or null. */
    async storeProblem() {
      let response;
      try {
        response = await fetch(new URL('/healthz', window.location.origin), { cache: 'no-store' });
      } catch {
        // Unreachable: the connection badge says so; this banner is about the store.
        return null;
      }
      let body = null;
      try {
        body = await response.json();
      } catch {
        // Not JSON: the status alone decides.
      }
      return storeProblemFrom(response.status, body);
    },
    /**
     * Replaces the server's kept token. From then on the page sends the new one, keeps it for
     * the next visit, and reopens its live stream with it.
     */
    async regenerateToken() {
      const { token: fresh } = await json('POST', '/api/v1/token/regenerate');
      keepToken(fresh);
      const address = withToken(window.location.href, fresh);
      if (address !== window.location.href) history.replaceState(history.state, '', address);
      if (stream) openStream();
      return fresh;
    },
    subscribe(onUpdate, onState) {
      stream = { onUpdate, onState, source: null };
      openStream();
      return () => {
        stream?.source?.close();
        stream = null;
      };
    },
  };
}
