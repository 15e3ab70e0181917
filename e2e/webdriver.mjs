// A small W3C WebDriver client over fetch: enough to drive tauri-driver (WebKitWebDriver) and
// chromedriver from node's test runner without npm packages.

export const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

export class WebDriverError extends Error {
  constructor(error, message) {
    super(`${error}: ${message}`);
    this.error = error;
  }
}

/** No WebDriver command may take longer than this: a hung browser fails the test, not CI. */
const COMMAND_TIMEOUT_MS = 90_000;

async function call(base, method, path, body) {
  let response;
  try {
    response = await fetch(base + path, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
    });
  } catch (e) {
    throw new WebDriverError('no answer', `${method} ${path}: ${e.message}`);
  }
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new WebDriverError('bad response', `${response.status} ${text.slice(0, 200)}`);
  }
  const value = json.value;
  if (!response.ok || (value && value.error)) {
    throw new WebDriverError(value?.error ?? `http ${response.status}`, value?.message ?? text.slice(0, 300));
  }
  return value;
}

export class Session {
  static async create(base, capabilities) {
    const value = await call(base, 'POST', '/session', { capabilities: { alwaysMatch: capabilities } });
    return new Session(base, value.sessionId);
  }

  constructor(base, id) {
    this.base = base;
    this.id = id;
  }

  cmd(method, path, body) {
    return call(this.base, method, `/session/${this.id}${path}`, body);
  }

  async find(css) {
    const el = await this.cmd('POST', '/element', { using: 'css selector', value: css });
    return el[ELEMENT];
  }

  async findAll(css) {
    const els = await this.cmd('POST', '/elements', { using: 'css selector', value: css });
    return els.map((e) => e[ELEMENT]);
  }

  text(el) {
    return this.cmd('GET', `/element/${el}/text`);
  }

  click(el) {
    return this.cmd('POST', `/element/${el}/click`, {});
  }

  type(el, text) {
    return this.cmd('POST', `/element/${el}/value`, { text });
  }

  attribute(el, name) {
    return this.cmd('GET', `/element/${el}/attribute/${name}`);
  }

  displayed(el) {
    return this.cmd('GET', `/element/${el}/displayed`);
  }

  /** Runs `script` (a function body; `arguments` holds `args`) in the page. */
  exec(script, args = []) {
    return this.cmd('POST', '/execute/sync', { script, args });
  }

  /** Runs `script` in the page; it finishes by calling `arguments[arguments.length - 1](value)`. */
  execAsync(script, args = []) {
    return this.cmd('POST', '/execute/async', { script, args });
  }

  navigate(url) {
    return this.cmd('POST', '/url', { url });
  }

  url() {
    return this.cmd('GET', '/url');
  }

  setWindowRect(rect) {
    return this.cmd('POST', '/window/rect', rect);
  }

  /** The text of an open alert, or null when there is none. */
  async alertText() {
    try {
      return await this.cmd('GET', '/alert/text');
    } catch (e) {
      if (e.error === 'no such alert') return null;
      throw e;
    }
  }

  async screenshot() {
    return Buffer.from(await this.cmd('GET', '/screenshot'), 'base64');
  }

  async quit() {
    await call(this.base, 'DELETE', `/session/${this.id}`);
  }
}

/** Polls `probe` until it returns a truthy value (returned) or `ms` pass (throws `what`). */
export async function waitFor(what, probe, ms = 30_000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}
