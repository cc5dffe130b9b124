// Unit tests of the party page's pure helpers (web/src/party.js), under Node's test runner. The
// protocol helpers the page had (revisions, snapshots, identifiers) are the SDK's now and are
// tested with it (clients/js/test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeEvent, formatCountdown, hueOf, initials, secondsLeft } from '../../web/src/party.js';

test('initials: two words give two initials, one word its first two letters', () => {
  assert.equal(initials('Alice Baker'), 'AB');
  assert.equal(initials('carol'), 'CA');
  assert.equal(initials('dave_smith'), 'DS');
  assert.equal(initials(''), '?');
  assert.equal(initials('  '), '?');
});

test('a user keeps the same hue everywhere, and users differ', () => {
  assert.equal(hueOf('alice'), hueOf('alice'));
  assert.notEqual(hueOf('alice'), hueOf('bob'));
  for (const u of ['a', 'bob', 'x'.repeat(64)]) assert.ok(hueOf(u) >= 0 && hueOf(u) < 360);
});

test('countdown: whole seconds left, rounded up, never negative', () => {
  const now = Date.parse('2026-11-23T10:00:00.000Z');
  assert.equal(secondsLeft('2026-11-23T10:01:05.000Z', now), 65);
  assert.equal(secondsLeft('2026-11-23T10:00:00.200Z', now), 1);
  assert.equal(secondsLeft('2026-11-23T09:59:00.000Z', now), 0);
  assert.equal(secondsLeft('', now), null);
  assert.equal(secondsLeft('garbage', now), null);
  assert.equal(formatCountdown(65), '1:05');
  assert.equal(formatCountdown(0), '0:00');
  assert.equal(formatCountdown(null), '');
});

test('events read as sentences', () => {
  const member = { userId: 'bob', profile: { displayName: 'Bob' } };
  assert.equal(describeEvent({ kind: 'joined', member }), 'Bob joined');
  assert.equal(describeEvent({ kind: 'left', reason: 'timeout', member }), 'Bob left (timeout)');
  assert.equal(describeEvent({ kind: 'left', reason: 'sign_out', member }), 'Bob left (sign out)');
  assert.equal(describeEvent({ kind: 'back', member: { userId: 'c', profile: {} } }), 'c is back');
  assert.equal(describeEvent(null), '?: unknown event');
});
