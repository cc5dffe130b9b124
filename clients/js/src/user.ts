// One user's presence (online, last seen, profile, devices, parties) from its retained record,
// with a get_presence answer when no record arrives (a user never seen has none).
import { create, fromBinary } from '@bufbuild/protobuf';
import { QueryRequestSchema, UserPresenceSchema } from './gen/presence/v1/presence_pb.js';
import { Emitter } from './emitter.js';
import type { Host } from './host.js';
import { userOf, type UserInfo } from './model.js';

/** The events of a UserWatch. */
export type UserEvents = { update: [user: UserInfo] };

/** Watches presence/user/<id>: `user` is null until the first record or answer. */
export class UserWatch extends Emitter<UserEvents> {
  private user_: UserInfo | null = null;
  private seen_ = false;
  private timer_: ReturnType<typeof setTimeout> | null = null;
  private readonly topic_: string;
  private closed_ = false;

  constructor(readonly userId: string, private readonly host_: Host, private readonly onClose_: () => void) {
    super();
    this.topic_ = `presence/user/${userId}`;
    this.host_.watch([this.topic_], () => this.onSubscribed_());
  }

  /** The latest presence of the user, or null before the first record arrived. */
  get user(): UserInfo | null {
    return this.user_;
  }

  /** Stops watching. */
  close(): void {
    if (this.closed_) return;
    this.closed_ = true;
    if (this.timer_) clearTimeout(this.timer_);
    this.host_.unwatch([this.topic_]);
    this.onClose_();
  }

  /** Called by Presence for each message on the user's topic. */
  onMessage(topic: string, payload: Uint8Array): void {
    if (this.closed_ || topic !== this.topic_ || payload.length === 0) return;
    if (this.host_.dropInbound(topic, payload)) return;
    try {
      this.seen_ = true;
      this.set_(userOf(fromBinary(UserPresenceSchema, payload)));
    } catch {
      // Not a user record: ignored.
    }
  }

  private set_(u: UserInfo): void {
    if (this.user_ && JSON.stringify(this.user_) === JSON.stringify(u)) return;
    this.user_ = u;
    this.emit('update', u);
  }

  private onSubscribed_(): void {
    this.seen_ = false;
    if (this.timer_) clearTimeout(this.timer_);
    this.timer_ = setTimeout(() => {
      this.timer_ = null;
      if (this.seen_) return;
      const req = create(QueryRequestSchema, { query: { case: 'getPresence', value: { userIds: [this.userId] } } });
      this.host_.query(req).then((res) => {
        if (!this.closed_ && !this.seen_ && res.result.case === 'presence' && res.result.value.users[0]) {
          this.set_(userOf(res.result.value.users[0]));
        }
      }, () => {});
    }, 250);
  }
}
