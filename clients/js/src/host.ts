// What a Party or a UserWatch needs from the connection, as a small interface, so those classes do
// not depend on MQTT.js or on the Presence class itself.
import type { PartyMembers, QueryRequest, QueryResponse } from './gen/presence/v1/presence_pb.js';

/** Services the Presence connection offers to the watches it owns. */
export interface Host {
  readonly userId: string;
  readonly deviceId: string;
  /** The session id of the current connection, or null while offline. */
  readonly sessionId: string | null;
  readonly online: boolean;
  /** Publishes at QoS 1; resolves on PUBACK, rejects when offline or the connection drops first. */
  publish(topic: string, payload: Uint8Array): Promise<void>;
  /** Subscribes now (when online) and again after every reconnect, until unwatch(). */
  watch(topics: string[], onSubscribed: () => void): void;
  unwatch(topics: string[]): void;
  /** Subscribes again, which makes the broker resend the retained messages (a re-read). */
  resubscribe(topics: string[]): void;
  query(request: QueryRequest): Promise<QueryResponse>;
  /** Test hook: whether to drop an inbound message as if the network lost it. */
  dropInbound(topic: string, payload: Uint8Array): boolean;
}

/** A list_members answer with no members and revision 0 means the party does not exist. */
export function isEmptyAnswer(m: PartyMembers): boolean {
  return m.revision === 0n && m.members.length === 0;
}
