// The member list of one party, kept by the client rule of docs/protocol.md: buffer events until
// the first snapshot, apply events in revision order, and on a revision gap keep the events and ask
// for the snapshot again instead of guessing. Pure (no MQTT, no timers), so every rule is testable.
import { EventKind, type PartyEvent, type PartyMembers } from './gen/presence/v1/presence_pb.js';
import { leaveReasonOf, memberOf, sameMember, type LeaveReason, type Member } from './model.js';

/** One change of the list as the app sees it; a user who comes back is 'back', never leave+join. */
export type Change =
  | { type: 'join'; member: Member; revision: bigint }
  | { type: 'leave'; member: Member; reason: LeaveReason; revision: bigint }
  | { type: 'reconnecting'; member: Member; revision: bigint }
  | { type: 'back'; member: Member; revision: bigint }
  | { type: 'update'; member: Member; previous: Member; revision: bigint };

/** What one input did: the changes, whether the list needs a fresh snapshot, late leave reasons. */
export interface Outcome {
  changes: Change[];
  /** A revision is missing: re-read the retained snapshot (never guess). */
  needSnapshot: boolean;
  /** LEFT events whose member a snapshot already removed: the reason for that earlier 'leave'. */
  reasons: { userId: string; reason: LeaveReason; revision: bigint }[];
  /** For a snapshot: whether it replaced the list (false for an older copy). */
  applied: boolean;
}

/** Applies snapshots and events of one party and reports the changes they make. */
export class PartyView {
  /** Members in join order, keyed by user id. */
  members = new Map<string, Member>();
  /** The highest revision applied; null before the first snapshot or when only "empty" is known. */
  revision: bigint | null = null;
  /** True once a snapshot (retained, or a list_members answer) gave the complete list. */
  synced = false;
  private buffer_: PartyEvent[] = [];

  constructor(readonly partyId: string) {}

  /** A snapshot; `null` means the party is empty (its retained snapshot was cleared). */
  applySnapshot(snap: PartyMembers | null): Outcome {
    const out: Outcome = { changes: [], needSnapshot: false, reasons: [], applied: false };
    const before = this.members;
    const wasSynced = this.synced;
    if (snap === null) {
      // Cleared: the party emptied. Its revision is unknown; the LEFT events carry it.
      this.members = new Map();
      this.synced = true;
      out.applied = true;
    } else {
      if (snap.partyId !== '' && snap.partyId !== this.partyId) return out;
      if (this.revision !== null && snap.revision < this.revision) return out; // an older copy
      const empty = snap.revision === 0n && snap.members.length === 0; // list_members of no party
      this.members = new Map(snap.members.map((m) => [m.userId, memberOf(m)]));
      this.revision = empty ? this.revision : snap.revision;
      this.synced = true;
      out.applied = true;
    }
    if (this.revision !== null) {
      const r = this.revision;
      this.buffer_ = this.buffer_.filter((e) => e.revision > r);
    }
    // The first list is not news: the app gets one 'sync', not a 'join' per member.
    if (wasSynced) out.changes.push(...diff(before, this.members, this.revision ?? 0n));
    this.drain_(out);
    return out;
  }

  /** An event; buffered until synced, applied in revision order, a gap asks for a snapshot. */
  applyEvent(ev: PartyEvent): Outcome {
    const out: Outcome = { changes: [], needSnapshot: false, reasons: [], applied: false };
    if (ev.partyId !== this.partyId) return out;
    if (!this.synced) {
      this.buffer_.push(ev);
      return out;
    }
    if (this.revision !== null && ev.revision <= this.revision) {
      // The same change (apply, idempotent) or an old one (ignore).
      if (ev.revision === this.revision) this.apply_(ev, out);
      return out;
    }
    this.buffer_.push(ev);
    this.drain_(out);
    return out;
  }

  /** Forgets everything, for a party the app stops watching. */
  reset(): void {
    this.members = new Map();
    this.revision = null;
    this.synced = false;
    this.buffer_ = [];
  }

  private drain_(out: Outcome): void {
    if (!this.synced || this.buffer_.length === 0) return;
    this.buffer_.sort((a, b) => (a.revision < b.revision ? -1 : a.revision > b.revision ? 1 : 0));
    while (this.buffer_.length > 0) {
      const next = this.buffer_[0];
      const r = this.revision;
      if (r !== null && next.revision <= r) {
        this.buffer_.shift();
        if (next.revision === r) this.apply_(next, out);
        continue;
      }
      if (r === null || next.revision !== r + 1n) {
        out.needSnapshot = true; // a gap: keep the events, wait for the snapshot
        return;
      }
      this.buffer_.shift();
      this.revision = next.revision;
      this.apply_(next, out);
    }
  }

  private apply_(ev: PartyEvent, out: Outcome): void {
    if (!ev.member) return;
    const m = memberOf(ev.member);
    const before = new Map(this.members);
    if (ev.kind === EventKind.LEFT) {
      if (!this.members.has(m.userId)) {
        out.reasons.push({ userId: m.userId, reason: leaveReasonOf(ev.reason), revision: ev.revision });
        return;
      }
      this.members.delete(m.userId);
    } else if (ev.kind === EventKind.JOINED || this.members.has(m.userId)) {
      this.members.set(m.userId, m);
    } else {
      return; // an update of someone not listed: the next snapshot tells
    }
    for (const c of diff(before, this.members, ev.revision)) {
      if (c.type === 'leave') c.reason = leaveReasonOf(ev.reason);
      out.changes.push(c);
    }
  }
}

/** The changes from one list to the next, per user. */
export function diff(before: Map<string, Member>, after: Map<string, Member>, revision: bigint): Change[] {
  const changes: Change[] = [];
  for (const [id, m] of after) {
    const old = before.get(id);
    if (!old) changes.push({ type: 'join', member: m, revision });
    else if (old.state === 'present' && m.state === 'reconnecting') changes.push({ type: 'reconnecting', member: m, revision });
    else if (old.state === 'reconnecting' && m.state === 'present') changes.push({ type: 'back', member: m, revision });
    else if (!sameMember(old, m)) changes.push({ type: 'update', member: m, previous: old, revision });
  }
  for (const [id, m] of before) {
    if (!after.has(id)) changes.push({ type: 'leave', member: m, reason: 'unknown', revision });
  }
  return changes;
}
