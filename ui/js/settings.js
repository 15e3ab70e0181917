// The settings panel: units and update interval, where and how devices send readings (with
// examples to paste, and the token with a two-step Regenerate), and the serial ports with their
// state, the alert rules and webhooks (alerts.js), and the forwarders (forwarders.js). Port identities and unparsed lines come from
// devices and are shown as text only.

import { byId, h, replace, setText } from './dom.js';
import { formatCount, formatDuration, formatTime } from './format.js';
import { errorText, t, textOr } from './i18n.js';
import { ForwardersList } from './forwarders.js';
import { AlertSettings } from './alerts.js';

const INTERVALS = [250, 500, 1000, 2000, 5000];
const PORT_REFRESH_MS = 2000;

/**
 * Ready-to-paste ways to send a reading to `base` (`http://host:port`) with `token`; their
 * comments are in the language in use, the code is not translated.
 */
export function examples(base, token) {
  const bearer = token ? `Bearer ${token}` : '';
  const curlAuth = token ? ` \\\n  -H 'Authorization: ${bearer}'` : '';
  const tokenQuery = token ? `&token=${encodeURIComponent(token)}` : '';
  return [
    {
      id: 'curl',
      label: 'curl',
      text: `curl -X POST ${base}/api/v1/readings${curlAuth} \\
  -H 'Content-Type: application/json' \\
  -d '{"sensor":"kitchen","name":"Kitchen","temperature":21.4,"humidity":48.2}'`,
    },
    {
      id: 'esphome',
      label: 'ESPHome',
      text: `# ${t('example.esphome')}
http_request:

interval:
  - interval: 60s
    then:
      - http_request.post:
          url: ${base}/api/v1/readings
          request_headers:
            Content-Type: application/json${token ? `\n            Authorization: ${bearer}` : ''}
          json: |-
            root["sensor"] = "living-room";
            root["temperature"] = id(room_temp).state;
            root["humidity"] = id(room_hum).state;`,
    },
    {
      id: 'arduino',
      label: 'ESP32 (Arduino)',
      text: `#include <WiFi.h>
#include <HTTPClient.h>

const char* WIFI_NAME = "your-wifi";
const char* WIFI_PASSWORD = "your-password";
const char* CLIMA_URL = "${base}/api/v1/readings";
const char* CLIMA_TOKEN = "${token ?? ''}";

void setup() {
  Serial.begin(115200);
  WiFi.begin(WIFI_NAME, WIFI_PASSWORD);
  while (WiFi.status() != WL_CONNECTED) delay(500);
}

void loop() {
  float temperature = 21.4;  // ${t('example.readSensor')}
  float humidity = 48.2;
  HTTPClient http;
  http.begin(CLIMA_URL);
  http.addHeader("Content-Type", "application/json");
  if (CLIMA_TOKEN[0]) http.addHeader("Authorization", String("Bearer ") + CLIMA_TOKEN);
  String body = String("{\\"sensor\\":\\"esp32-1\\",\\"temperature\\":") + temperature +
                ",\\"humidity\\":" + humidity + "}";
  int status = http.POST(body);
  Serial.printf("Clima answered %d\\n", status);
  http.end();
  delay(60000);
}`,
    },
    {
      id: 'shelly',
      label: 'Shelly',
      text: `${base}/api/v1/push?id=shelly-ht${tokenQuery}

${t('example.shelly')}`,
    },
  ];
}

export class SettingsPanel {
  /** `onToken(token)` is called after the token was regenerated. */
  constructor(root, transport, prefs, onPrefs, onToken = () => {}, sensorIds = () => []) {
    this.root = root;
    this.transport = transport;
    this.prefs = prefs;
    this.onPrefs = onPrefs;
    this.onToken = onToken;
    this.portTimer = null;
    this.status = null;
    this.example = 'curl';
    /** What the token row says after a regeneration (kept until the panel closes). */
    this.tokenNote = null;
    /** Ports whose unparsed lines the user opened: kept open across refreshes. */
    this.openUnparsed = new Set();
    /** Ports whose board settings the user opened. */
    this.openBoards = new Set();
    this.forwarders = new ForwardersList(transport);
    this.alerts = new AlertSettings(transport, sensorIds);

    for (const input of root.querySelectorAll('input[name="temp-unit"]')) {
      input.checked = input.value === prefs.tempUnit;
      input.addEventListener('change', () => {
        if (input.checked) this.onPrefs({ tempUnit: input.value });
      });
    }
    const select = byId('update-interval');
    for (const ms of INTERVALS) {
      // In seconds: ICU writes milliseconds "ms" in Japanese too, in some versions even in full.
      select.append(h('option', { value: ms, selected: ms === prefs.updateMs }, formatDuration({ value: ms / 1000, unit: 'second' })));
    }
    select.addEventListener('change', () => this.onPrefs({ updateMs: Number(select.value) }));
    byId('close-settings').addEventListener('click', () => this.close());
    root.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.close();
    });
  }

  get isOpen() {
    return !this.root.hidden;
  }

  async open() {
    this.root.hidden = false;
    byId('open-settings').setAttribute('aria-expanded', 'true');
    byId('close-settings').focus();
    await this.renderIngest();
    await this.renderBackground();
    await this.refreshPorts();
    await this.alerts.refresh();
    await this.forwarders.refresh();
    clearInterval(this.portTimer);
    this.portTimer = setInterval(() => this.refreshPorts(), PORT_REFRESH_MS);
  }

  close() {
    this.root.hidden = true;
    byId('open-settings').setAttribute('aria-expanded', 'false');
    clearInterval(this.portTimer);
    this.portTimer = null;
    this.tokenNote = null;
  }

  async renderIngest() {
    try {
      this.status = await this.transport.status();
    } catch (e) {
      replace(byId('ingest'), h('p', { class: 'error' }, errorText(e)));
      return;
    }
    const s = this.status;
    // The engine's own version and database file (the window's; a browser is not told).
    byId('about').hidden = !s.version;
    setText(byId('about-version'), s.version ?? '');
    setText(byId('about-db'), s.db ?? '');
    const base = `http://${s.addresses[0] ?? s.listen}`;
    // Each fact: its id (data-fact), its label's key, its value and what goes under it.
    const rows = [
      ['address', 'facts.address', s.addresses.map((a) => `http://${a}`).join('\n')],
      ['token', 'facts.token', s.token ?? t('facts.noToken'), this.tokenControls(s)],
    ];
    if (this.transport.kind === 'tauri' && s.token) {
      rows.push(['watch in a browser', 'facts.browser', `${base}/?token=${encodeURIComponent(s.token)}`]);
    }
    const list = h(
      'dl',
      { class: 'facts' },
      rows.map(([id, key, v, extra]) => [h('dt', {}, t(key)), h('dd', { data: { fact: id } }, h('code', {}, v), extra)]),
    );

    const all = examples(base, s.token);
    const tabs = h('div', { class: 'tabs', role: 'tablist' });
    const code = h('pre', { class: 'example', id: 'example-text' });
    const show = (id) => {
      this.example = id;
      const ex = all.find((x) => x.id === id) ?? all[0];
      setText(code, ex.text);
      code.dataset.example = ex.id;
      for (const t of tabs.children) t.setAttribute('aria-selected', String(t.dataset.example === ex.id));
    };
    for (const ex of all) {
      tabs.append(h('button', { type: 'button', role: 'tab', data: { example: ex.id }, onclick: () => show(ex.id) }, ex.label));
    }
    const copy = h('button', { type: 'button', class: 'copy', onclick: () => copyText(code.textContent, copy) }, t('copy.button'));
    show(this.example);
    replace(byId('ingest'), list, tabs, h('div', { class: 'example-box' }, code, copy));
  }

  /** The window's tray and log-in choices; the section stays hidden in a browser. */
  async renderBackground() {
    if (!this.transport.background) return;
    const keep = byId('keep-in-tray');
    const autostart = byId('autostart');
    const error = byId('background-error');
    const show = (b) => {
      keep.checked = b.keep_in_tray;
      keep.disabled = !b.tray_available;
      byId('no-tray').hidden = b.tray_available;
      autostart.checked = b.autostart;
      byId('background').hidden = false;
    };
    const change = async (what) => {
      setText(error, '');
      try {
        show(await this.transport.setBackground(what));
      } catch (e) {
        setText(error, errorText(e));
        const now = await this.transport.background().catch(() => null);
        if (now) show(now);
      }
    };
    keep.onchange = () => change({ keepInTray: keep.checked });
    autostart.onchange = () => change({ autostart: autostart.checked });
    try {
      show(await this.transport.background());
    } catch (e) {
      setText(error, errorText(e));
    }
  }

  /**
   * The Regenerate button under the token. The first click only asks (inline, so nothing else
   * on the page is blocked); the second replaces the token, after which every device needs the
   * new one.
   */
  tokenControls(s) {
    if (!s.token) return null;
    if (s.token_regenerable === false) {
      return h('div', { class: 'muted token-note' }, t('token.fixed'));
    }
    const box = h('div', { class: 'token-actions' });
    const idle = (message) => {
      const start = h('button', { type: 'button', id: 'regenerate-token', onclick: () => confirming() }, t('token.regenerate'));
      replace(box, start, message ? h('span', { class: message.kind, role: 'status' }, message.text) : null);
      return start;
    };
    const confirming = () => {
      const question = h('span', { class: 'token-question' }, t('token.question'));
      const cancel = h('button', { type: 'button', id: 'regenerate-cancel', onclick: () => idle().focus() }, t('token.cancel'));
      const confirm = h(
        'button',
        {
          type: 'button',
          id: 'regenerate-confirm',
          class: 'danger',
          onclick: async () => {
            confirm.disabled = true;
            cancel.disabled = true;
            setText(question, t('token.busy'));
            let token;
            try {
              token = await this.transport.regenerateToken();
            } catch (e) {
              idle({ kind: 'error', text: t('token.failed', { message: errorText(e) }) }).focus();
              return;
            }
            this.tokenNote = t('token.done');
            await this.renderIngest();
            this.onToken(token);
            byId('regenerate-token')?.focus();
          },
        },
        t('token.confirm'),
      );
      replace(box, question, confirm, cancel);
      cancel.focus();
    };
    idle(this.tokenNote ? { kind: 'token-done', text: this.tokenNote } : null);
    return box;
  }

  /** The port's board settings: applied as soon as they change, kept per board. */
  boardSettings(p) {
    const { unit, all, ignore } = boardControls(p.settings, p.series);
    const save = async (changed, control) => {
      const next = { temperature_unit: unit || null, ignore: [...ignore], ...changed };
      control.disabled = true;
      try {
        await this.transport.portSettings(p.id, next);
      } catch (e) {
        alertText(control, errorText(e));
      }
      await this.refreshPorts();
    };
    const select = h(
      'select',
      { data: { setting: 'temperature_unit' }, onchange: () => save({ temperature_unit: select.value || null }, select) },
      h('option', { value: '', selected: unit === '' }, t('board.unitAsBoard')),
      h('option', { value: 'C', selected: unit === 'C' }, '°C'),
      h('option', { value: 'F', selected: unit === 'F' }, '°F'),
    );
    const boxes = all.map((s) => {
      const box = h('input', {
        type: 'checkbox',
        checked: ignore.has(s),
        data: { series: s },
        onchange: () => {
          const next = new Set(ignore);
          if (box.checked) next.add(s);
          else next.delete(s);
          save({ ignore: [...next] }, box);
        },
      });
      return h('label', {}, box, t('board.ignore', { series: s }));
    });
    return h(
      'details',
      {
        class: 'board-settings',
        open: this.openBoards.has(p.id),
        ontoggle: (e) => (e.target.open ? this.openBoards.add(p.id) : this.openBoards.delete(p.id)),
      },
      h('summary', {}, t('board.title')),
      h('label', {}, t('board.unit'), select),
      boxes.length ? h('div', { class: 'series' }, ...boxes) : h('div', { class: 'muted' }, t('board.noSeries')),
    );
  }

  async refreshPorts() {
    const box = byId('ports');
    let ports;
    try {
      ({ ports } = await this.transport.ports());
    } catch (e) {
      replace(box, h('p', { class: e.status === 404 ? 'muted' : 'error' }, e.status === 404 ? t('ports.unsupported') : errorText(e)));
      return;
    }
    if (ports.length === 0) {
      replace(box, h('p', { class: 'muted' }, t('ports.none')));
      return;
    }
    replace(box, ...ports.map((p) => this.port(p)));
  }

  port(p) {
    const identity = [p.manufacturer, p.product].filter(Boolean).join(' ');
    const usb = p.vid && p.pid ? `USB ${p.vid}:${p.pid}` : null;
    const released = p.status === 'released';
    const action = released ? 'claim' : 'release';
    const button = h(
      'button',
      {
        type: 'button',
        data: { action },
        onclick: async () => {
          button.disabled = true;
          try {
            await this.transport.portAction(action, p.id);
          } catch (e) {
            alertText(button, errorText(e));
          }
          await this.refreshPorts();
        },
      },
      t(released ? 'port.connect' : 'port.release'),
    );
    const details = [
      usb,
      p.serial_number ? t('port.serial', { serial: p.serial_number }) : null,
      p.baud ? t('port.baud', { baud: p.baud }) : null,
      t('port.lines', { parsed: formatCount(p.lines_parsed), unparsed: formatCount(p.lines_unparsed) }) +
        (p.lines_overlong ? t('port.overlong', { n: formatCount(p.lines_overlong) }) : ''),
    ].filter(Boolean);
    const unparsed = (p.unparsed ?? []).slice(-5).reverse();
    const board = this.boardSettings(p);
    return h(
      'article',
      { class: 'port', data: { port: p.id, status: p.status } },
      h('header', {}, h('strong', {}, p.path), h('span', { class: `badge ${p.status}` }, textOr(`port.status.${p.status}`, p.status)), button),
      identity ? h('div', {}, identity) : null,
      h('div', { class: 'muted' }, details.join(' · ')),
      p.detail && !released ? h('div', { class: p.status === 'error' ? 'error' : 'muted', data: { detail: '' } }, p.detail) : null,
      p.hint ? h('div', { class: 'hint', data: { hint: '' } }, h('strong', {}, t('port.toFix')), p.hint) : null,
      released ? h('div', { class: 'muted' }, t('port.released')) : null,
      board,
      unparsed.length
        ? h(
            'details',
            {
              open: this.openUnparsed.has(p.id),
              ontoggle: (e) => (e.target.open ? this.openUnparsed.add(p.id) : this.openUnparsed.delete(p.id)),
            },
            h('summary', {}, t('port.unparsed', { n: unparsed.length })),
            h('ul', { class: 'unparsed' }, unparsed.map((u) => h('li', {}, h('code', {}, u.line), ` — ${u.reason} (${formatTime(u.at, Date.now())})`))),
          )
        : null,
    );
  }
}

/**
 * What the user tells Clima about a board's lines: the unit of temperatures printed without
 * one, and series not to store. `settings` is the port's, `series` what its lines gave.
 */
export function boardControls(settings, series) {
  const ignore = new Set(settings?.ignore ?? []);
  const all = [...new Set([...(series ?? []), ...ignore])].sort();
  return { unit: settings?.temperature_unit ?? '', all, ignore };
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    alertText(button, t('copy.done'));
  } catch {
    // No clipboard access (e.g. plain http in a browser): select the text for Ctrl-C instead.
    const pre = button.parentElement.querySelector('pre');
    window.getSelection().selectAllChildren(pre);
    alertText(button, t('copy.manual'));
  }
}

function alertText(button, text) {
  const old = button.textContent;
  button.textContent = text;
  setTimeout(() => {
    button.textContent = old;
    button.disabled = false;
  }, 1500);
}

