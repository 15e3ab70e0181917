// The settings panel: units and update interval, where and how devices send readings (with
// examples to paste, and the token with a two-step Regenerate), and the serial ports with their
// state, and the forwarders (forwarders.js). Port identities and unparsed lines come from
// devices and are shown as text only.

import { byId, h, replace, setText } from './dom.js';
import { formatTime } from './format.js';
import { ForwardersList } from './forwarders.js';

const INTERVALS = [250, 500, 1000, 2000, 5000];
const PORT_REFRESH_MS = 2000;

/** Ready-to-paste ways to send a reading to `base` (`http://host:port`) with `token`. */
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
      text: `# Add to your device's YAML; room_temp and room_hum are your sensors' ids.
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
  float temperature = 21.4;  // read your sensor here
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

Shelly H&T: Settings → Actions → "Sensor reports" (Gen1: "Report sensor values"): paste this URL.
The Shelly adds temp= and hum= itself.`,
    },
  ];
}

export class SettingsPanel {
  /** `onToken(token)` is called after the token was regenerated. */
  constructor(root, transport, prefs, onPrefs, onToken = () => {}) {
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

    for (const input of root.querySelectorAll('input[name="temp-unit"]')) {
      input.checked = input.value === prefs.tempUnit;
      input.addEventListener('change', () => {
        if (input.checked) this.onPrefs({ tempUnit: input.value });
      });
    }
    const select = byId('update-interval');
    for (const ms of INTERVALS) {
      select.append(h('option', { value: ms, selected: ms === prefs.updateMs }, ms < 1000 ? `${ms} ms` : `${ms / 1000} s`));
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
    await this.refreshPorts();
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
      replace(byId('ingest'), h('p', { class: 'error' }, e.message));
      return;
    }
    const s = this.status;
    const base = `http://${s.addresses[0] ?? s.listen}`;
    const rows = [
      ['Address', s.addresses.map((a) => `http://${a}`).join('\n')],
      ['Token', s.token ?? 'none (anyone who can reach this address may send)', this.tokenControls(s)],
    ];
    if (this.transport.kind === 'tauri' && s.token) {
      rows.push(['Watch in a browser', `${base}/?token=${encodeURIComponent(s.token)}`]);
    }
    if (s.db) rows.push(['Database', s.db]);
    const list = h(
      'dl',
      { class: 'facts' },
      rows.map(([k, v, extra]) => [h('dt', {}, k), h('dd', { data: { fact: k.toLowerCase() } }, h('code', {}, v), extra)]),
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
    const copy = h('button', { type: 'button', class: 'copy', onclick: () => copyText(code.textContent, copy) }, 'Copy');
    show(this.example);
    replace(byId('ingest'), list, tabs, h('div', { class: 'example-box' }, code, copy));
  }

  /**
   * The Regenerate button under the token. The first click only asks (inline, so nothing else
   * on the page is blocked); the second replaces the token, after which every device needs the
   * new one.
   */
  tokenControls(s) {
    if (!s.token) return null;
    if (s.token_regenerable === false) {
      return h('div', { class: 'muted token-note' }, 'Given with --token: change it there.');
    }
    const box = h('div', { class: 'token-actions' });
    const idle = (message) => {
      const start = h('button', { type: 'button', id: 'regenerate-token', onclick: () => confirming() }, 'Regenerate token');
      replace(box, start, message ? h('span', { class: message.kind, role: 'status' }, message.text) : null);
      return start;
    };
    const confirming = () => {
      const question = h('span', { class: 'token-question' }, 'Devices still sending the current token will be refused (401) until they get the new one.');
      const cancel = h('button', { type: 'button', id: 'regenerate-cancel', onclick: () => idle().focus() }, 'Cancel');
      const confirm = h(
        'button',
        {
          type: 'button',
          id: 'regenerate-confirm',
          class: 'danger',
          onclick: async () => {
            confirm.disabled = true;
            cancel.disabled = true;
            setText(question, 'Regenerating…');
            let token;
            try {
              token = await this.transport.regenerateToken();
            } catch (e) {
              idle({ kind: 'error', text: `The token was not changed: ${e.message}` }).focus();
              return;
            }
            this.tokenNote = 'New token in force: the old one is refused. Give it to every device that sends readings (the examples below use it).';
            await this.renderIngest();
            this.onToken(token);
            byId('regenerate-token')?.focus();
          },
        },
        'Regenerate now',
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
        alertText(control, e.message);
      }
      await this.refreshPorts();
    };
    const select = h(
      'select',
      { data: { setting: 'temperature_unit' }, onchange: () => save({ temperature_unit: select.value || null }, select) },
      h('option', { value: '', selected: unit === '' }, 'as the board says (hold back unit-less values that are not room °C)'),
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
      return h('label', {}, box, ` ignore ${s}`);
    });
    return h(
      'details',
      {
        class: 'board-settings',
        open: this.openBoards.has(p.id),
        ontoggle: (e) => (e.target.open ? this.openBoards.add(p.id) : this.openBoards.delete(p.id)),
      },
      h('summary', {}, 'Board settings'),
      h('label', {}, 'Temperatures printed without a unit are in ', select),
      boxes.length ? h('div', { class: 'series' }, ...boxes) : h('div', { class: 'muted' }, 'No series read from this board yet.'),
    );
  }

  async refreshPorts() {
    const box = byId('ports');
    let ports;
    try {
      ({ ports } = await this.transport.ports());
    } catch (e) {
      replace(box, h('p', { class: e.status === 404 ? 'muted' : 'error' }, e.status === 404 ? 'This Clima does not read serial ports.' : e.message));
      return;
    }
    if (ports.length === 0) {
      replace(box, h('p', { class: 'muted' }, 'No serial ports found. Plug in a board by USB; it shows here within a second.'));
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
            alertText(button, e.message);
          }
          await this.refreshPorts();
        },
      },
      released ? 'Connect' : 'Release',
    );
    const details = [
      usb,
      p.serial_number ? `serial ${p.serial_number}` : null,
      p.baud ? `${p.baud} baud` : null,
      `${p.lines_parsed} lines read, ${p.lines_unparsed} not understood${p.lines_overlong ? `, ${p.lines_overlong} too long` : ''}`,
    ].filter(Boolean);
    const unparsed = (p.unparsed ?? []).slice(-5).reverse();
    const board = this.boardSettings(p);
    return h(
      'article',
      { class: 'port', data: { port: p.id, status: p.status } },
      h('header', {}, h('strong', {}, p.path), h('span', { class: `badge ${p.status}` }, p.status), button),
      identity ? h('div', {}, identity) : null,
      h('div', { class: 'muted' }, details.join(' · ')),
      p.error ? h('div', { class: 'error' }, p.error) : null,
      released ? h('div', { class: 'muted' }, 'Released: flash your board now, then press Connect.') : null,
      board,
      unparsed.length
        ? h(
            'details',
            {
              open: this.openUnparsed.has(p.id),
              ontoggle: (e) => (e.target.open ? this.openUnparsed.add(p.id) : this.openUnparsed.delete(p.id)),
            },
            h('summary', {}, `Lines not understood (${unparsed.length})`),
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
    alertText(button, 'Copied');
  } catch {
    // No clipboard access (e.g. plain http in a browser): select the text for Ctrl-C instead.
    const pre = button.parentElement.querySelector('pre');
    window.getSelection().selectAllChildren(pre);
    alertText(button, 'Press Ctrl-C');
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

