// Unit tests of the party page's pure helpers (web/src/party.js), under Node's test runner.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  describeEvent, formatCountdown, hueOf, initials, parseSnapshot, revisionOf, secondsLeft,
  validIdentifier,
} from '../../web/src/party.js';

test('revisions are compared as 64-bit integers, not as strings or doubles', () => {
  assert.ok(revisionOf('1795433611569010') > revisionOf('1795433611569009'));
  assert.ok(revisionOf('10') > revisionOf('9'));
  // Above 2^53 a JavaScript number would round these two to the same value.
  assert.ok(revisionOf('9007199254740993') > revisionOf('9007199254740992'));
  assert.equal(revisionOf(undefined), 0n);
  assert.equal(revisionOf('not a number'), 0n);
});

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

test('identifiers follow protocol v1', () => {
  assert.ok(validIdentifier('alice.B_2-x'));
  assert.ok(validIdentifier('a'.repeat(64)));
  for (const bad of ['', 'a'.repeat(65), 'a/b', 'a+b', 'a#', 'é', 'a b']) {
    assert.equal(validIdentifier(bad), false, bad);
  }
});

test('snapshots: JSON twin, cleared party, and garbage', () => {
  const snap = parseSnapshot('{"party_id":"p","revision":"17","members":[{"user_id":"a"}]}');
  assert.equal(snap.revision, 17n);
  assert.deepEqual(snap.members.map((m) => m.user_id), ['a']);
  assert.equal(snap.cleared, false);
  assert.deepEqual(parseSnapshot(''), { members: [], revision: null, cleared: true });
  assert.equal(parseSnapshot('{not json'), null);
  assert.equal(parseSnapshot('{"members":"nope"}'), null);
  assert.deepEqual(parseSnapshot('{"party_id":"p","revision":"3"}').members, []);
});

test('events read as sentences', () => {
  const member = { user_id: 'bob', profile: { display_name: 'Bob' } };
  assert.equal(describeEvent({ kind: 'EVENT_KIND_JOINED', member }), 'Bob joined');
  assert.equal(describeEvent({ kind: 'EVENT_KIND_LEFT', reason: 'LEAVE_REASON_TIMEOUT', member }),
    'Bob left (timeout)');
  assert.equal(describeEvent({ kind: 'EVENT_KIND_LEFT', reason: 'LEAVE_REASON_SIGN_OUT', member }),
    'Bob left (sign out)');
  assert.equal(describeEvent({ kind: 'EVENT_KIND_BACK', member: { user_id: 'c' } }), 'c is back');
  assert.equal(describeEvent(null), '?: unknown event');
});
