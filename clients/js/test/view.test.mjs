// The client rule of docs/protocol.md on the SDK's pure party view, without a broker: snapshot
// first, events in revision order, a gap asks for the snapshot, an older copy never wins.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { PartyView } from '../dist/index.js';
import {
  EventKind, LeaveReason, MemberState, PartyEventSchema, PartyMembersSchema,
} from '../dist/gen/presence/v1/presence_pb.js';

const member = (userId, state = MemberState.PRESENT) =>
  ({ userId, state, devices: [{ deviceId: `${userId}-1`, state: state === MemberState.PRESENT ? 1 : 2 }] });
const snap = (revision, ...users) =>
  create(PartyMembersSchema, { partyId: 'p', revision, members: users.map((u) => member(u)) });
const ev = (revision, kind, userId, extra = {}) =>
  create(PartyEventSchema, { partyId: 'p', revision, kind, member: member(userId, extra.state), reason: extra.reason ?? 0 });
const ids = (v) => [...v.members.keys()].join(' ');

test('events before the first snapshot are buffered, then applied in revision order', () => {
  const v = new PartyView('p');
  assert.deepEqual(v.applyEvent(ev(12n, EventKind.JOINED, 'c')).changes, []);
  assert.deepEqual(v.applyEvent(ev(11n, EventKind.JOINED, 'b')).changes, []);
  assert.equal(v.synced, false);
  const out = v.applySnapshot(snap(10n, 'a'));
  assert.equal(v.synced, true);
  assert.equal(ids(v), 'a b c');
  assert.equal(v.revision, 12n);
  assert.deepEqual(out.changes.map((c) => `${c.type} ${c.member.userId}`), ['join b', 'join c']);
});

test('r+1 applies, r is the same change, below r is old', () => {
  const v = new PartyView('p');
  v.applySnapshot(snap(5n, 'a'));
  assert.equal(v.applyEvent(ev(6n, EventKind.JOINED, 'b')).changes[0].type, 'join');
  assert.deepEqual(v.applyEvent(ev(6n, EventKind.UPDATED, 'b')).changes, []); // idempotent
  assert.deepEqual(v.applyEvent(ev(4n, EventKind.LEFT, 'a')).changes, []); // old: ignored
  assert.equal(ids(v), 'a b');
  const left = v.applyEvent(ev(7n, EventKind.LEFT, 'a', { reason: LeaveReason.TIMEOUT }));
  assert.equal(left.changes[0].type, 'leave');
  assert.equal(left.changes[0].reason, 'timeout');
});

test('a gap is never guessed: events wait, the next snapshot heals', () => {
  const v = new PartyView('p');
  v.applySnapshot(snap(5n, 'a'));
  const gap = v.applyEvent(ev(8n, EventKind.JOINED, 'd'));
  assert.equal(gap.needSnapshot, true);
  assert.equal(ids(v), 'a', 'the event above the gap is not applied');
  const healed = v.applySnapshot(snap(7n, 'a', 'c'));
  assert.equal(healed.needSnapshot, false);
  assert.equal(ids(v), 'a c d');
  assert.equal(v.revision, 8n);
});

test('an older snapshot copy never replaces a newer list; reconnecting then back is no leave', () => {
  const v = new PartyView('p');
  v.applySnapshot(snap(9n, 'a', 'b'));
  assert.equal(v.applySnapshot(snap(3n, 'a')).applied, false);
  assert.equal(ids(v), 'a b');
  const lost = v.applyEvent(ev(10n, EventKind.RECONNECTING, 'b', { state: MemberState.RECONNECTING }));
  assert.deepEqual(lost.changes.map((c) => c.type), ['reconnecting']);
  const back = v.applyEvent(ev(11n, EventKind.BACK, 'b'));
  assert.deepEqual(back.changes.map((c) => c.type), ['back']);
});

test('a cleared snapshot empties the list; a LEFT after it only names the reason', () => {
  const v = new PartyView('p');
  v.applySnapshot(snap(5n, 'a'));
  const cleared = v.applySnapshot(null);
  assert.deepEqual(cleared.changes.map((c) => `${c.type} ${c.reason}`), ['leave unknown']);
  const left = v.applyEvent(ev(6n, EventKind.LEFT, 'a', { reason: LeaveReason.EXPLICIT }));
  assert.deepEqual(left.changes, []);
  assert.deepEqual(left.reasons.map((r) => r.reason), ['explicit']);
});
