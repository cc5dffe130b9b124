// MQTT 5 request/response queries (docs/protocol.md, "Queries"): a QueryRequest on
// presence/query/<user>/<device> with a response topic below presence/reply/<user>/<device> and
// correlation data; the controller answers there with the same correlation data.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  QueryRequestSchema, QueryResponseSchema, QueryStatus, type QueryRequest, type QueryResponse,
} from './gen/presence/v1/presence_pb.js';
import { checkId } from './ids.js';
import { deviceOf, snapshotOf, userOf, type DeviceInfo, type PartySnapshot, type UserInfo } from './model.js';

/** The connection a query is asked on. */
export interface QueryTransport {
  readonly online: boolean;
  publishWith(topic: string, payload: Uint8Array, properties: Record<string, unknown>): Promise<void>;
  whenOnline(): Promise<void>;
}

/** A query the controller answered with a status other than OK. */
export class PresenceQueryError extends Error {
  constructor(readonly status: 'bad_request' | 'too_large' | 'unknown', message: string) {
    super(message);
    this.name = 'PresenceQueryError';
  }
}

type Pending = { resolve: (r: QueryResponse) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> };

/** Asks queries and matches the answers to them by correlation data. */
export class Queries {
  private next_ = 1;
  private readonly pending_ = new Map<string, Pending>();
  private readonly prefix_ = Math.random().toString(36).slice(2, 8);

  constructor(readonly queryTopic: string, readonly replyTopic: string, private readonly timeoutMs_: number) {}

  /** Sends one request; waits for the connection (within the timeout) when offline. */
  ask(t: QueryTransport, request: QueryRequest): Promise<QueryResponse> {
    const id = `${this.prefix_}-${this.next_++}`;
    return new Promise<QueryResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending_.delete(id);
        reject(new Error(`query: no answer within ${this.timeoutMs_} ms (is the controller running?)`));
      }, this.timeoutMs_);
      this.pending_.set(id, { resolve, reject, timer });
      const send = () => t.publishWith(this.queryTopic, toBinary(QueryRequestSchema, request), {
        responseTopic: this.replyTopic,
        correlationData: new TextEncoder().encode(id),
      });
      (t.online ? send() : t.whenOnline().then(send)).catch((err: Error) => this.settle_(id, null, err));
    });
  }

  /** An answer on the reply topic. */
  onReply(payload: Uint8Array, correlation: Uint8Array | undefined): void {
    if (!correlation) return;
    const id = new TextDecoder().decode(correlation);
    let res: QueryResponse;
    try {
      res = fromBinary(QueryResponseSchema, payload);
    } catch (err) {
      this.settle_(id, null, new Error(`query: undecodable answer: ${(err as Error).message}`));
      return;
    }
    if (res.status !== QueryStatus.OK) {
      const status = res.status === QueryStatus.BAD_REQUEST ? 'bad_request' : res.status === QueryStatus.TOO_LARGE ? 'too_large' : 'unknown';
      this.settle_(id, null, new PresenceQueryError(status, res.error || status));
      return;
    }
    this.settle_(id, res, null);
  }

  /** Rejects every open query (the connection closed). */
  failAll(err: Error): void {
    for (const id of [...this.pending_.keys()]) this.settle_(id, null, err);
  }

  async getPresence(t: QueryTransport, userIds: string[]): Promise<UserInfo[]> {
    userIds.forEach((u) => checkId('userId', u));
    const res = await this.ask(t, create(QueryRequestSchema, { query: { case: 'getPresence', value: { userIds } } }));
    return res.result.case === 'presence' ? res.result.value.users.map(userOf) : [];
  }

  async whereNow(t: QueryTransport, userId: string): Promise<string[]> {
    checkId('userId', userId);
    const res = await this.ask(t, create(QueryRequestSchema, { query: { case: 'whereNow', value: { userId } } }));
    return res.result.case === 'parties' ? [...res.result.value.partyIds] : [];
  }

  async userDevices(t: QueryTransport, userId: string): Promise<{ online: boolean; devices: DeviceInfo[] }> {
    checkId('userId', userId);
    const res = await this.ask(t, create(QueryRequestSchema, { query: { case: 'getUserDevices', value: { userId } } }));
    if (res.result.case !== 'devices') return { online: false, devices: [] };
    return { online: res.result.value.online, devices: res.result.value.devices.map(deviceOf) };
  }

  async listMembers(t: QueryTransport, partyId: string): Promise<PartySnapshot> {
    checkId('partyId', partyId);
    const res = await this.ask(t, create(QueryRequestSchema, { query: { case: 'listMembers', value: { partyId } } }));
    if (res.result.case !== 'members') return { partyId, revision: 0n, members: [], updatedAt: null };
    return snapshotOf(res.result.value);
  }

  private settle_(id: string, res: QueryResponse | null, err: Error | null): void {
    const p = this.pending_.get(id);
    if (!p) return;
    this.pending_.delete(id);
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(res!);
  }
}
