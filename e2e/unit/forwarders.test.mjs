// Unit tests of the forwarders list's summary line (ui/js/forwarders.js).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summary } from '../../ui/js/forwarders.js';
import { setLanguage } from '../../ui/js/i18n.js';

test('a forwarder summary says its state, its lag and what retention removed', () => {
  const f = { state: 'connected', lag_readings: 0, lag_seconds: 0, lost: 0 };
  assert.equal(summary(f), 'connected · up to date');
  assert.equal(summary({ ...f, state: 'retrying', lag_readings: 1200, lag_seconds: 42.4 }), 'retrying · 1,200 readings behind (42 s)');
  assert.equal(summary({ ...f, lost: 7 }), 'connected · up to date · 7 readings removed by retention before they could be sent');
  // A state this page does not know is shown as the server says it.
  assert.equal(summary({ ...f, state: 'paused' }), 'paused · up to date');
});

test('in Japanese the summary is Japanese', () => {
  setLanguage('ja');
  try {
    assert.equal(summary({ state: 'retrying', lag_readings: 1200, lag_seconds: 42.4, lost: 0 }), '再試行中 · 1,200 件遅れ（42 秒）');
  } finally {
    setLanguage('en');
  }
});
