// Unit tests of the dashboard's pure helpers (ui/js/format.js and the examples in settings).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boardControls } from '../../ui/js/settings.js';
import { setLanguage } from '../../ui/js/i18n.js';
import {
  bucketAt,
  convert,
  elapsed,
  exportFileName,
  formatAge,
  formatBytes,
  formatInterval,
  formatNumber,
  intervalFromTimes,
  intervalParts,
  isStale,
  seriesLabel,
  storeProblemText,
  trend,
  usualInterval,
} from '../../ui/js/format.js';

const MIN = 60_000;

// The texts below are the English ones; i18n.test.mjs checks the Japanese.
setLanguage('en');

function check(f, cases) {
  for (const [input, expected] of cases) {
    assert.deepEqual(f(...input), expected, `${f.name}(${JSON.stringify(input)})`);
  }
}

test('ages', () => {
  check(elapsed, [
    [[0], { value: 0, unit: 'second' }],
    [[-5000], { value: 0, unit: 'second' }],
    [[12_400], { value: 12, unit: 'second' }],
    [[5 * MIN], { value: 5, unit: 'minute' }],
    [[3 * 60 * MIN], { value: 3, unit: 'hour' }],
    [[47 * 60 * MIN], { value: 47, unit: 'hour' }],
    [[72 * 60 * MIN], { value: 3, unit: 'day' }],
    [[null], null],
  ]);
  check(formatAge, [
    [[0], 'just now'],
    [[1999], 'just now'],
    [[null], 'never'],
  ]);
  // Intl words the rest ("12 sec. ago" or "12s ago" by ICU version): the number and the tense.
  assert.match(formatAge(12_400), /^12\b.* ago$/);
  assert.match(formatAge(72 * 60 * MIN), /^3 days ago$/);
  check(intervalParts, [
    [[200], { value: 1, unit: 'second' }],
    [[30_400], { value: 30, unit: 'second' }],
    [[300_000], { value: 5, unit: 'minute' }],
    [[110 * MIN], { value: 110, unit: 'minute' }],
    [[4 * 3_600_000], { value: 4, unit: 'hour' }],
  ]);
  assert.match(formatInterval(300_000), /^5 min$/);
});

test('units and numbers', () => {
  check(convert, [
    [[20, '°C', 'F'], { value: 68, unit: '°F' }],
    [[20, '°C', 'C'], { value: 20, unit: '°C' }],
    [[50, '%', 'F'], { value: 50, unit: '%' }],
    [[null, 'ppm', 'C'], { value: null, unit: 'ppm' }],
  ]);
  check(formatNumber, [
    [[21.44], '21.4'],
    [[1013.25], '1013'],
    [[0.123], '0.12'],
    [[-3], '-3.0'],
    [[NaN], '–'],
    [[812.4, 'co2'], '812'],
    [[1013.25, 'pressure'], '1013.3'],
  ]);
});

const bucket = (t, mean, count = 1) => ({ t, mean, min: mean, max: mean, count });

test('trends compare with a quarter of an hour ago', () => {
  const now = 100 * MIN;
  const history = [bucket(now - 25 * MIN, 20), bucket(now - 20 * MIN, 20.1), bucket(now - 5 * MIN, 21)];
  check((latest) => trend('temperature', latest, history, now), [
    [[21], 'up'],
    [[19.5], 'down'],
    [[20.1], 'flat'],
  ]);
  assert.equal(trend('temperature', 21, [], now), null);
  assert.equal(trend('co2', 800, [bucket(now - 20 * MIN, 790)], now), 'flat');
});

test('the usual interval is learned from history, ignoring outages', () => {
  // One reading a second: 60 in each minute bucket.
  const fast = Array.from({ length: 10 }, (_, i) => bucket(i * MIN, 20, 60));
  assert.equal(usualInterval(fast), 1000);
  // Every five minutes, with one hour-long outage.
  const slow = [0, 5, 10, 15, 75, 80, 85].map((m) => bucket(m * MIN, 20, 1));
  assert.equal(usualInterval(slow), 5 * MIN);
  assert.equal(usualInterval([bucket(0, 1)]), null);
  assert.equal(intervalFromTimes([1000, 2000, 3000, 3000, 4100]), 1000);
});

test('stale after missing the usual interval', () => {
  check(isStale, [
    [[2000, 1000], false],
    [[12_000, 1000], true],
    [[10 * MIN, 5 * MIN], false],
    [[16 * MIN, 5 * MIN], true],
    [[10 * MIN, null], false],
    [[16 * MIN, null], true],
    [[null, 1000], false],
  ]);
});

test('the pointer maps to the bucket under it', () => {
  const readings = { bucket_ms: MIN, points: [bucket(0, 1), bucket(MIN, 2), bucket(2 * MIN, 3), bucket(3 * MIN, 4)] };
  const plot = { left: 50, top: 10, width: 400, height: 100 };
  check((x) => bucketAt(x, plot, readings)?.mean ?? null, [
    [[50], 1],
    [[149], 1],
    [[151], 2],
    [[449], 4],
    [[450], 4],
    [[20], null],
    [[460], null],
  ]);
});

test('export file names are safe and match the desktop app\'s', () => {
  // 2026-11-25T12:00Z to 2026-11-26T12:00Z, the same cases as src-tauri/src/export.rs.
  const [from, to] = [1_795_608_000_000, 1_795_694_400_000];
  check((sensor, metric) => exportFileName(sensor, metric, from, to, 'csv'), [
    [['kitchen', 'temperature'], 'kitchen-temperature-2026-11-25_2026-11-26.csv'],
    [['../../etc/passwd', 'temperature'], '_.._etc_passwd-temperature-2026-11-25_2026-11-26.csv'],
    [['..', 'co2'], 'sensor-co2-2026-11-25_2026-11-26.csv'],
    [['-rf <img src=x>', 'a/b'], 'rf__img_src_x_-a_b-2026-11-25_2026-11-26.csv'],
    [['x'.repeat(200), 'küche'], `${'x'.repeat(64)}-k_che-2026-11-25_2026-11-26.csv`],
  ]);
  assert.equal(exportFileName('lab', 'humidity', 1_795_687_200_000, 1_795_690_800_000, 'png'), 'lab-humidity-2026-11-26.png');
  check(formatBytes, [
    [[812], '812 B'],
    [[45_300], '45 kB'],
    [[3_240_000], '3.2 MB'],
  ]);
});

test('the store banner says what is wrong and what to do', () => {
  const tail = 'Readings sent now are refused (503) and devices should resend them.';
  check(storeProblemText, [
    [['database or disk is full'], `The database cannot be written: database or disk is full. ${tail}`],
    // The engine's reason may end in a full stop or spaces: one full stop in the sentence.
    [['attempt to write a readonly database. '], `The database cannot be written: attempt to write a readonly database. ${tail}`],
    [[''], `The database cannot be written: no reason given. ${tail}`],
    [[null], `The database cannot be written: no reason given. ${tail}`],
  ]);
  // Device or engine text stays text: the helper builds a string, the page sets it as text.
  assert.ok(storeProblemText('<b>x</b>').includes('<b>x</b>'));
});

test('a line-protocol series is shown with its measurement and tags', () => {
  assert.equal(seriesLabel({ measurement: 'climate', tags: { floor: '2', room: 'attic' } }), 'climate · floor=2, room=attic');
  assert.equal(seriesLabel({ measurement: 'climate', tags: {} }), 'climate');
  assert.equal(seriesLabel(undefined), null);
  assert.equal(seriesLabel({ tags: { a: 'b' } }), null);
});

test('board controls list every series once, ignored ones included', () => {
  assert.deepEqual(boardControls(null, null), { unit: '', all: [], ignore: new Set() });
  const c = boardControls(
    { temperature_unit: 'F', ignore: ['serial-x/max_value'] },
    ['serial-x/temperature', 'serial-x/humidity', 'serial-x/temperature'],
  );
  assert.equal(c.unit, 'F');
  assert.deepEqual(c.all, ['serial-x/humidity', 'serial-x/max_value', 'serial-x/temperature']);
  assert.ok(c.ignore.has('serial-x/max_value'));
});
