// Unit tests of the alert form's rule JSON, the rules in words, the cards' firing alerts
// (ui/js/alerts.js) and the field an alert error names (ui/js/transport.js).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeRule, fieldApplies, firingBySensor, formFromRule, ruleFromForm } from '../../ui/js/alerts.js';
import { faultyField } from '../../ui/js/transport.js';
import { setLanguage } from '../../ui/js/i18n.js';

test('the form sends the fields its condition uses, numbers as numbers', () => {
  const values = { sensor: ' bath ', condition: 'above', metric: 'humidity', threshold: '70,5', amount: '3', window: '10m', for: '6h', hysteresis: '', label: '', enabled: true };
  assert.deepEqual(ruleFromForm(values), { sensor: 'bath', condition: 'above', enabled: true, metric: 'humidity', threshold: 70.5, for: '6h' });
  assert.deepEqual(ruleFromForm({ ...values, condition: 'falling', sensor: '' }), {
    sensor: '*', condition: 'falling', enabled: true, metric: 'humidity', amount: 3, window: '10m', for: '6h',
  });
  // Offline watches the whole sensor; no metric, no hysteresis.
  assert.deepEqual(ruleFromForm({ ...values, condition: 'offline', hysteresis: '1', enabled: false }), { sensor: 'bath', condition: 'offline', enabled: false, for: '6h' });
  // Text that is no number goes as it is, so the engine names the field.
  assert.equal(ruleFromForm({ ...values, threshold: 'seventy' }).threshold, 'seventy');
});

test('a listed rule fills the form and comes back the same', () => {
  const listed = { id: 4, title: 'Mould risk', sensor: '*', metric: 'humidity', condition: 'above', threshold: 70, for: '6h', label: 'Mould risk', enabled: true };
  const values = formFromRule(listed);
  assert.equal(values.threshold, '70');
  assert.equal(values.window, '');
  const { id, title, ...rule } = listed;
  assert.deepEqual(ruleFromForm(values), rule);
  assert.equal(fieldApplies('threshold', 'rising'), false);
  assert.equal(fieldApplies('window', 'rising'), true);
  assert.equal(fieldApplies('metric', 'offline'), false);
});

test('rules in words, in both languages', () => {
  assert.equal(describeRule({ metric: 'humidity', condition: 'above', threshold: 70, for: '6h' }), 'Humidity above 70 for 6h');
  assert.equal(describeRule({ metric: 'temperature', condition: 'falling', amount: 3, window: '10m' }), 'Temperature falling by 3 within 10m');
  assert.equal(describeRule({ sensor: '*', condition: 'offline' }), 'no reading for three times the usual interval');
  setLanguage('ja');
  try {
    assert.equal(describeRule({ metric: 'humidity', condition: 'above', threshold: 70, for: '6h' }), '湿度 が 70 を超える（6h 継続）');
  } finally {
    setLanguage('en');
  }
});

test('cards get the firing alerts of their sensor only', () => {
  const by = firingBySensor([
    { sensor: 'bath', state: 'firing', rule_id: 1 },
    { sensor: 'bath', state: 'pending', rule_id: 2 },
    { sensor: 'attic', state: 'firing', rule_id: 1 },
    { sensor: 'bath', state: 'firing', rule_id: 3 },
  ]);
  assert.deepEqual(by.get('bath').map((a) => a.rule_id), [1, 3]);
  assert.equal(by.get('attic').length, 1);
  assert.equal(by.has('kitchen'), false);
});

test('the field an alert error names, from either front door', () => {
  assert.equal(faultyField('invalid_rule', 'whatever', 'threshold'), 'threshold');
  assert.equal(faultyField('invalid_rule', 'for: "6 hours" is not a duration: use 30s, 10m or 6h'), 'for');
  assert.equal(faultyField('invalid_webhook', 'url: bad'), null);
  assert.equal(faultyField('invalid_rule', 'no field here'), null);
});
