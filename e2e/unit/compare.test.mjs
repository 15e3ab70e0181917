// The comparison's and the cards' pure helpers: which metrics several sensors share, and the
// name a card shows.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_COMPARED, sharedMetrics } from '../../ui/js/compare.js';
import { displayName } from '../../ui/js/cards.js';

const sensor = (id, metrics) => ({ sensor: id, metrics: new Map(metrics.map((m) => [m, {}])) });

test('a comparison offers the metrics most of its sensors have first, then as the cards order them', () => {
  const chosen = [sensor('a', ['temperature', 'humidity', 'co2']), sensor('b', ['humidity', 'temperature']), sensor('c', ['temperature'])];
  assert.deepEqual(sharedMetrics(chosen), ['temperature', 'humidity', 'co2']);
  assert.deepEqual(sharedMetrics([sensor('a', ['absolute_humidity', 'pressure', 'temperature', 'zz'])]), ['temperature', 'pressure', 'absolute_humidity', 'zz']);
  assert.deepEqual(sharedMetrics([]), []);
  assert.equal(MAX_COMPARED, 8);
});

test('a card shows the name given on the dashboard, else the device\'s, else the id', () => {
  assert.equal(displayName({ sensor: 'esp-1', name: 'Board', display_name: 'Living room' }), 'Living room');
  assert.equal(displayName({ sensor: 'esp-1', name: 'Board', display_name: null }), 'Board');
  assert.equal(displayName({ sensor: 'esp-1', name: null }), 'esp-1');
});
