// Unit tests of the dashboard's languages (ui/js/i18n.js): both catalogues say the same things
// with the same placeholders, the language follows the preferred list, errors are translated by
// their machine code, and numbers, ages and the examples' comments follow the language.

import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { CATALOGUES, LANGUAGES, errorText, pickLanguage, placeholders, setLanguage, t } from '../../ui/js/i18n.js';
import { formatAge, formatInterval, formatNumber, formatTime, metricLabel, storeProblemText } from '../../ui/js/format.js';
import { examples } from '../../ui/js/settings.js';

/** Hiragana, katakana and the CJK ideographs Japanese uses. */
const JAPANESE = /[\u3040-\u30ff\u3400-\u9fff]/;

afterEach(() => setLanguage('en'));

test('both catalogues have the same keys with the same placeholders', () => {
  assert.deepEqual(LANGUAGES, Object.keys(CATALOGUES));
  const keys = Object.keys(CATALOGUES.en).sort();
  for (const lang of LANGUAGES) {
    assert.deepEqual(Object.keys(CATALOGUES[lang]).sort(), keys, `${lang} has the same keys as en`);
    for (const key of keys) {
      assert.deepEqual(placeholders(CATALOGUES[lang][key]), placeholders(CATALOGUES.en[key]), `${lang} ${key}`);
    }
  }
  // The check itself sees a difference.
  assert.notDeepEqual(placeholders('{n} readings to {path}'), placeholders('{n} readings'));
});

test('every Japanese text is Japanese and no English text is', () => {
  // Texts with nothing to translate: a chemical formula, a protocol's name, placeholders alone.
  const same = new Set(['metric.co2', 'source.http', 'error.detail']);
  for (const [key, text] of Object.entries(CATALOGUES.ja)) {
    if (same.has(key)) continue;
    assert.match(text, JAPANESE, `ja ${key}: ${text}`);
  }
  for (const [key, text] of Object.entries(CATALOGUES.en)) assert.doesNotMatch(text, JAPANESE, `en ${key}`);
});

test('the language is the first preferred one the dashboard speaks', () => {
  const cases = [
    [['ja-JP', 'en-US'], 'ja'],
    [['ja'], 'ja'],
    [['JA_jp.UTF-8'], 'ja'],
    [['ja_JP.UTF-8@x'], 'ja'],
    [['en-GB', 'ja'], 'en'],
    [['de-DE', 'ja-JP'], 'ja'],
    [['de-DE', 'fr'], 'en'],
    [['jam'], 'en'],
    [[], 'en'],
    [[undefined], 'en'],
    [null, 'en'],
  ];
  for (const [preferred, expected] of cases) assert.equal(pickLanguage(preferred), expected, JSON.stringify(preferred));
});

test('placeholders are filled; a missing one stays visible', () => {
  setLanguage('ja');
  assert.equal(t('export.savedRows', { n: '1,234', path: '/data/x.csv' }), '1,234 件の測定値を /data/x.csv に保存しました');
  assert.equal(t('export.savedRows', { n: 3 }), '3 件の測定値を {path} に保存しました');
  assert.equal(t('no.such.key'), 'no.such.key');
  setLanguage('en');
  assert.equal(t('port.baud', { baud: 115200 }), '115200 baud');
});

test('errors are translated by their machine code', () => {
  const unauthorized = { kind: 'unauthorized', message: 'a token is required: send Authorization: Bearer TOKEN' };
  const engine = { kind: 'engine', message: 'port 8137 is in use: pass --listen 127.0.0.1:PORT' };
  const odd = { kind: 'teapot', message: 'short and stout' };
  assert.equal(errorText(unauthorized), unauthorized.message);
  assert.equal(errorText(engine), engine.message);
  setLanguage('ja');
  assert.equal(errorText(unauthorized), 'トークンがないか、間違っています。現在のトークンを貼り付けてください。');
  // Where the engine's message names what failed, it follows as detail.
  assert.equal(errorText(engine), `Clima を起動できませんでした：${engine.message}`);
  assert.equal(errorText(odd), 'エラー：short and stout');
});

test('numbers, times and ages follow the language', () => {
  const noon = new Date(2026, 11, 1, 12, 34, 56).getTime();
  const earlier = new Date(2026, 10, 28, 9, 5, 0).getTime();
  setLanguage('ja');
  assert.equal(formatAge(1000), 'たった今');
  assert.match(formatAge(12_400), /^12\s?秒前$/);
  assert.match(formatAge(3 * 3_600_000), /^3\s?時間前$/);
  assert.match(formatInterval(300_000), /^5\s?分$/);
  assert.equal(formatNumber(21.44, 'temperature'), '21.4');
  assert.equal(formatTime(noon, noon), '12:34:56');
  assert.equal(formatTime(earlier, noon, false), '11月28日 09:05');
  assert.equal(metricLabel('humidity'), '湿度');
  assert.equal(metricLabel('max_value'), 'max_value');
  assert.match(storeProblemText('disk full'), /^データベースに書き込めません：disk full。/);
  setLanguage('en');
  assert.equal(formatTime(earlier, noon, false), 'Nov 28 09:05');
  assert.equal(metricLabel('humidity'), 'Humidity');
});

test('the examples\' comments follow the language; their code does not change', () => {
  const comments = (text, id) => {
    const lines = text.split('\n');
    if (id === 'shelly') return lines.slice(2);
    if (id === 'arduino') return lines.filter((l) => /(^|\s)\/\/\s/.test(l)).map((l) => l.slice(l.search(/(^|\s)\/\/\s/)));
    return lines.filter((l) => l.trimStart().startsWith('#') && !l.startsWith('#include'));
  };
  setLanguage('en');
  const en = examples('http://lab:8137', 'f00d');
  setLanguage('ja');
  const ja = examples('http://lab:8137', 'f00d');
  for (const [i, ex] of ja.entries()) {
    const lines = comments(ex.text, ex.id);
    if (ex.id !== 'curl') assert.ok(lines.length > 0, `${ex.id} has comments`);
    for (const line of lines) assert.match(line, JAPANESE, `${ex.id}: ${line}`);
    for (const line of comments(en[i].text, ex.id)) assert.doesNotMatch(line, JAPANESE);
    // Only the comments differ: the code to paste is the same in both languages.
    const back = ['example.esphome', 'example.readSensor', 'example.shelly'].reduce((text, key) => text.replace(CATALOGUES.ja[key], CATALOGUES.en[key]), ex.text);
    assert.equal(back, en[i].text, ex.id);
  }
});
