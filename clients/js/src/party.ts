// One party as an app sees it: its live member list (snapshot first, events in revision order,
// gaps healed from the retained snapshot) and this device's declared membership, which the SDK
// re-asserts after every reconnect and whenever a snapshot does not show it.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  JoinSchema, LeaveSchema, PartyEventSchema, PartyMembersSchema, QueryRequestSchema,
  type PartyMembers,
} from './gen/presence/v1/presence_pb.js';
import { Emitter } from './emitter.js';
import { isEmptyAnswer, type Host } from './host.js';
import { eventOf, type LeaveReason, type Member, type RawPartyEvent } from './model.js';
import { PartyView, type Change, type Outcome } from './view.js';

/** Why the list was (re)synchronised. */
export type SyncCause = 'initial' | 'gap' | 'reconnect' | 'query';

/** The events of a Party; every member argument is the member after the change. */
export type PartyEvents = {
  join: [member: Member];
  leave: [member: Member, reason: LeaveReason];
  reconnecting: [member: Member];
  back: [member: Member];
  update: [member: Member, previous: Member];
  /** The list is complete (first snapshot, or healed after a gap or a reconnect). */
  sync: [info: { revision: bigint | null; cause: SyncCause }];
  /** Any change of `members`, after the specific events: the one React needs. */
  change: [members: readonly Member[]];
  /** The controller's own event stream, for logs ("bob left (timeout)"). */
  event: [event: RawPartyEvent];
};

const REASSERT_MIN_MS = 1000;
const LEAVE_REASON_WAIT_MS = 300;
const CONFIRM_RETRY_MS = 5000;

/** A party: watch its members; join() and leave() declare this device's membership. */
export class Party extends Emitter<PartyEvents> {
  private readonly view_: PartyView;
  private readonly topics_: { members: string; events: string };
  private intent_: 'none' | 'joined' | 'left' = 'none';
  private leaveAcked_ = false;
  private lastAssert_ = 0;
  private retryTimer_: ReturnType<typeof setTimeout> | null = null;
  private retryDelay_ = CONFIRM_RETRY_MS;
  private pendingLeaves_ = new Map<string, { member: Member; revision: bigint; timer: ReturnType<typeof setTimeout> }>();
  private confirmWaiters_: { want: boolean; resolve: () => void }[] = [];
  private snapshotSeen_ = false;
  private snapshots_ = 0;
  private resyncCause_: SyncCause = 'initial';
  private queryTimer_: ReturnType<typeof setTimeout> | null = null;
  private closed_ = false;
  /** How many times a gap made this party re-read its snapshot (for tests and diagnostics). */
  gapsHealed = 0;

  constructor(readonly id: string, private readonly host_: Host, private readonly onClose_: () => void) {
    super();
    this.view_ = new PartyView(id);
    this.topics_ = { members: `party/${id}/members`, events: `party/${id}/events` };
    this.host_.watch([this.topics_.members, this.topics_.events], () => this.onSubscribed_());
  }

  /** The members in join order: one entry per user, however many devices they have. */
  get members(): readonly Member[] {
    return [...this.view_.members.values()];
  }

  /** One member by user id. */
  member(userId: string): Member | undefined {
    return this.view_.members.get(userId);
  }

  /** True once the list is complete (a snapshot arrived); before that, members may be partial. */
  get synced(): boolean {
    return this.view_.synced;
  }

  /** The revision of the list shown, or null before the first snapshot. */
  get revision(): bigint | null {
    return this.view_.revision;
  }

  /** Whether this device declared itself a member (join() called, no leave() since). */
  get joined(): boolean {
    return this.intent_ === 'joined';
  }

  /**
   * Joins with this device. The intent is kept: after every reconnect, and whenever a snapshot
   * does not list this device, the SDK joins again. Resolves when the party lists this device.
   */
  join(options: { timeoutMs?: number } = {}): Promise<void> {
    this.checkOpen_();
    this.intent_ = 'joined';
    this.retryDelay_ = CONFIRM_RETRY_MS;
    this.assert_(true);
    return this.waitFor_(true, options.timeoutMs ?? 15000);
  }

  /** Leaves with this device now (an explicit leave). Resolves when the party no longer lists it. */
  leave(options: { timeoutMs?: number } = {}): Promise<void> {
    this.checkOpen_();
    this.intent_ = 'left';
    this.retryDelay_ = CONFIRM_RETRY_MS;
    this.assert_(true);
    return this.waitFor_(false, options.timeoutMs ?? 15000);
  }

  /** Drops the intent without publishing (sign-out already left every party). */
  forget(): void {
    this.intent_ = 'none';
  }

  /** Stops watching (unsubscribes); it does not leave. p.party(id) makes a new watch. */
  close(): void {
    if (this.closed_) return;
    this.closed_ = true;
    this.host_.unwatch([this.topics_.members, this.topics_.events]);
    for (const t of [this.retryTimer_, this.queryTimer_]) if (t) clearTimeout(t);
    for (const p of this.pendingLeaves_.values()) clearTimeout(p.timer);
    this.onClose_();
  }

  /** Called by Presence on each message of this party's topics. */
  onMessage(topic: string, payload: Uint8Array): void {
    if (this.closed_ || this.host_.dropInbound(topic, payload)) return;
    if (topic === this.topics_.members) {
      let snap: PartyMembers | null = null;
      if (payload.length > 0) {
        try {
          snap = fromBinary(PartyMembersSchema, payload);
        } catch {
          return; // not a snapshot: ignored, the next one will do
        }
      }
      this.snapshotSeen_ = true;
      this.snapshots_++;
      this.onSnapshot_(snap);
    } else if (topic === this.topics_.events) {
      let ev;
      try {
        ev = fromBinary(PartyEventSchema, payload);
      } catch {
        return;
      }
      this.emit('event', eventOf(ev));
      this.handle_(this.view_.applyEvent(ev));
    }
  }

  /** Called by Presence after a reconnect, before the watch subscribes again. */
  onReconnected(): void {
    this.snapshotSeen_ = false;
    if (this.view_.synced) this.resyncCause_ = 'reconnect';
    // Joins every time (idempotent); a leave only when its PUBACK never came (docs/protocol.md).
    if (this.intent_ === 'joined' || (this.intent_ === 'left' && !this.leaveAcked_)) this.assert_(true);
  }

  private onSnapshot_(snap: PartyMembers | null, cause?: SyncCause): void {
    const wasSynced = this.view_.synced;
    const out = this.view_.applySnapshot(snap);
    this.handle_(out);
    if (!wasSynced && out.applied && out.changes.length === 0) this.emit('change', this.members);
    if (!out.applied || out.needSnapshot) return;
    if (!wasSynced) {
      this.resyncCause_ = 'initial';
      this.emit('sync', { revision: this.view_.revision, cause: cause ?? 'initial' });
    } else if (this.resyncCause_ !== 'initial') {
      const c = this.resyncCause_;
      this.resyncCause_ = 'initial';
      this.emit('sync', { revision: this.view_.revision, cause: c });
    }
  }

  private handle_(out: Outcome): void {
    for (const r of out.reasons) {
      const p = this.pendingLeaves_.get(r.userId);
      if (p && p.revision <= r.revision) this.flushLeave_(r.userId, r.reason);
    }
    for (const c of out.changes) this.emitChange_(c);
    if (out.changes.length > 0) this.emit('change', this.members);
    if (out.needSnapshot) this.resync_();
    this.checkIntent_();
  }

  private emitChange_(c: Change): void {
    // A leave known only from a snapshot waits briefly for its LEFT event, which names the reason.
    if (this.pendingLeaves_.has(c.member.userId)) this.flushLeave_(c.member.userId, 'unknown');
    switch (c.type) {
      case 'join': this.emit('join', c.member); break;
      case 'reconnecting': this.emit('reconnecting', c.member); break;
      case 'back': this.emit('back', c.member); break;
      case 'update': this.emit('update', c.member, c.previous); break;
      case 'leave':
        if (c.reason !== 'unknown') {
          this.emit('leave', c.member, c.reason);
        } else {
          const timer = setTimeout(() => this.flushLeave_(c.member.userId, 'unknown'), LEAVE_REASON_WAIT_MS);
          this.pendingLeaves_.set(c.member.userId, { member: c.member, revision: c.revision, timer });
        }
        break;
    }
  }

  private flushLeave_(userId: string, reason: LeaveReason): void {
    const p = this.pendingLeaves_.get(userId);
    if (!p) return;
    clearTimeout(p.timer);
    this.pendingLeaves_.delete(userId);
    this.emit('leave', p.member, reason);
  }

  // The revision-gap rule: never guess, re-read the retained snapshot. A list_members answer is
  // asked too, because an emptied party has no retained snapshot to re-read.
  private resync_(): void {
    this.gapsHealed++;
    this.resyncCause_ = 'gap';
    this.host_.resubscribe([this.topics_.members]);
    this.askList_('gap');
  }

  private onSubscribed_(): void {
    // An empty party has no retained snapshot: ask the controller, so `synced` does not wait forever.
    if (this.queryTimer_) clearTimeout(this.queryTimer_);
    this.queryTimer_ = setTimeout(() => {
      this.queryTimer_ = null;
      if (!this.snapshotSeen_) this.askList_(this.view_.synced ? 'reconnect' : 'initial');
    }, 250);
  }

  private askList_(cause: SyncCause): void {
    const req = create(QueryRequestSchema, { query: { case: 'listMembers', value: { partyId: this.id } } });
    const before = this.snapshots_;
    this.host_.query(req).then((res) => {
      if (this.closed_ || res.result.case !== 'members') return;
      const fresher = this.snapshots_ !== before; // a snapshot arrived after the question
      const answer = res.result.value;
      if (isEmptyAnswer(answer)) {
        // The controller knows no such party now: the list is empty, unless a snapshot since says
        // otherwise (an emptied party has no retained snapshot, so this is the only way to know).
        if (!fresher) this.onSnapshot_(null, cause === 'initial' ? 'query' : cause);
        return;
      }
      this.onSnapshot_(answer, cause === 'initial' ? 'query' : cause);
    }, () => {
      // No answer (controller down, or too large): the retained snapshot is the source anyway.
    });
  }

  private listsMe_(): boolean {
    const me = this.view_.members.get(this.host_.userId);
    return !!me?.devices.some((d) => d.deviceId === this.host_.deviceId && d.state === 'live');
  }

  // Declarative membership: a synced list that disagrees with the intent is corrected.
  private checkIntent_(): void {
    if (!this.view_.synced) return;
    const listed = this.listsMe_();
    this.confirmWaiters_ = this.confirmWaiters_.filter((w) => {
      if (w.want !== listed || (w.want && this.intent_ !== 'joined')) return true;
      w.resolve();
      return false;
    });
    if (this.intent_ === 'joined' && !listed) this.assert_(false);
    if (this.intent_ === 'left' && this.view_.members.get(this.host_.userId)?.devices.some((d) => d.deviceId === this.host_.deviceId)) {
      this.assert_(false);
    }
  }

  private assert_(force: boolean): void {
    if (!this.host_.online || this.intent_ === 'none') return;
    const now = Date.now();
    if (!force && now - this.lastAssert_ < REASSERT_MIN_MS) return;
    this.lastAssert_ = now;
    const sessionId = this.host_.sessionId ?? '';
    const joining = this.intent_ === 'joined';
    const topic = `party/${this.id}/${joining ? 'join' : 'leave'}/${this.host_.userId}/${this.host_.deviceId}`;
    const payload = joining ? toBinary(JoinSchema, create(JoinSchema, { sessionId }))
      : toBinary(LeaveSchema, create(LeaveSchema, { sessionId }));
    this.leaveAcked_ = false;
    this.host_.publish(topic, payload).then(() => {
      if (!joining && this.intent_ === 'left') this.leaveAcked_ = true;
    }, () => {
      // Not acknowledged before the connection dropped: onReconnected() publishes it again.
    });
    if (this.retryTimer_) clearTimeout(this.retryTimer_);
    this.retryTimer_ = setTimeout(() => {
      this.retryTimer_ = null;
      const listed = this.listsMe_();
      if ((this.intent_ === 'joined' && !listed) || (this.intent_ === 'left' && listed)) {
        this.retryDelay_ = Math.min(this.retryDelay_ * 2, 60000);
        this.assert_(true);
      }
    }, this.retryDelay_);
  }

  private waitFor_(want: boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.confirmWaiters_ = this.confirmWaiters_.filter((w) => w !== waiter);
        reject(new Error(`party ${this.id}: ${want ? 'join' : 'leave'} not confirmed within ${timeoutMs} ms (the SDK keeps trying)`));
      }, timeoutMs);
      const waiter = { want, resolve: () => { clearTimeout(timer); resolve(); } };
      this.confirmWaiters_.push(waiter);
      this.checkIntent_();
    });
  }

  private checkOpen_(): void {
    if (this.closed_) throw new Error(`party ${this.id} was closed; call presence.party(id) again`);
  }
}
