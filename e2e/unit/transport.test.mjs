// Unit tests of the transport's pure helpers: the address bar after a token is regenerated, and
// what a /healthz answer says about the store.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { storeProblemFrom, withToken } from '../../ui/js/transport.js';

function check(f, cases) {
  for (const [input, expected] of cases) {
    assert.deepEqual(f(...input), expected, `${f.name}(${JSON.stringify(input)})`);
  }
}

test('a token in the address is replaced; an address without one is kept', () => {
  check(withToken, [
    [['http://lab:8137/?token=old-token-1', 'new-token-2'], 'http://lab:8137/?token=new-token-2'],
    [['http://lab:8137/?a=1&token=old&b=2#charts', 'n3w'], 'http://lab:8137/?a=1&token=n3w&b=2#charts'],
    [['http://lab:8137/', 'n3w'], 'http://lab:8137/'],
    [['http://lab:8137/?tokens=x#token=y', 'n3w'], 'http://lab:8137/?tokens=x#token=y'],
    // Characters that need escaping are escaped, never pasted into the address as they are.
    [['http://lab:8137/?token=old', 'a&b=c d'], 'http://lab:8137/?token=a%26b%3Dc+d'],
  ]);
});

test('only a 503 from Clima is a store problem', () => {
  const full = 'the database disk is full or read-only (database or disk is full): free space or fix permissions; ingest resumes by itself';
  check(storeProblemFrom, [
    [[200, { status: 'ok' }], null],
    [[503, { status: 'store_unavailable', message: full }], full],
    [[503, { status: 'store_unavailable', message: '  ' }], ''],
    [[503, { status: 'store_unavailable' }], ''],
    // A proxy's error page (not JSON) or another JSON: Clima is unreachable, not its store.
    [[503, null], null],
    [[503, { error: 'bad_gateway', message: 'upstream down' }], null],
    [[502, { status: 'store_unavailable', message: full }], null],
    [[401, { error: 'unauthorized', message: 'token' }], null],
  ]);
});
