// The connection of one device: MQTT.js with the protocol's identity (username = user id, client id
// = device id), a Last Will and a connect message naming a fresh session id per connection, capped
// and jittered reconnects, tokens fetched before every connect and refreshed ahead of `exp`, and
// MQTT 5 queries. Parties and user watches ride on it and are restored after every reconnect.
import { create, toBinary } from '@bufbuild/protobuf';
import mqtt, { type MqttClient } from 'mqtt';
import {
  ConnectSchema, DisconnectSchema, ProfileSchema, WillSchema, type QueryRequest, type QueryResponse,
} from './gen/presence/v1/presence_pb.js';
import { Emitter } from './emitter.js';
import { checkId, newSessionId } from './ids.js';
import type { Host } from './host.js';
import type { Profile } from './model.js';
import {
  PresenceRefusedError, REFUSED, TAKEN_OVER,
  type ConnectionState, type PresenceEvents, type PresenceOptions,
} from './options.js';
import { Party } from './party.js';
import { Queries } from './queries.js';
import { refreshDelayMs, tokenTimes } from './token.js';
import { UserWatch } from './user.js';

export { PresenceRefusedError };
export type { ConnectionState, ConnectionStatus, PresenceEvents, PresenceOptions } from './options.js';

/** One device's presence connection; make it with connectPresence() or createPresence(). */
export class Presence extends Emitter<PresenceEvents> implements Host {
  readonly userId: string;
  readonly deviceId: string;
  private readonly opts_: PresenceOptions;
  private profile_: Profile;
  private client_: MqttClient | null = null;
  private sessionId_: string | null = null;
  private state_: ConnectionState = { status: 'connecting', attempt: 0, retryAt: null, reason: null };
  private readonly parties_ = new Map<string, Party>();
  private readonly users_ = new Map<string, UserWatch>();
  private readonly watched_ = new Map<string, { count: number; onSubscribed: Set<() => void> }>();
  private reconnectTimer_: ReturnType<typeof setTimeout> | null = null;
  private refreshTimer_: ReturnType<typeof setTimeout> | null = null;
  private swapping_: MqttClient | null = null;
  private ready_: MqttClient | null = null;
  private refusedCode_ = 0;
  private everOnline_ = false;
  private stopped_ = false;
  private offline_ = false;
  private readonly queries_: Queries;
  /** Connections made so far (for tests and diagnostics). */
  connections = 0;

  constructor(options: PresenceOptions) {
    super();
    this.opts_ = options;
    this.userId = checkId('userId', options.userId);
    this.deviceId = checkId('deviceId', options.deviceId);
    if (!options.url) throw new TypeError('url is required');
    this.profile_ = { displayName: '', avatarUrl: '', statusText: '', ...options.profile };
    this.queries_ = new Queries(`presence/query/${this.userId}/${this.deviceId}`,
      `presence/reply/${this.userId}/${this.deviceId}/sdk`, options.queryTimeoutMs ?? 5000);
    this.watched_.set(this.queries_.replyTopic, { count: 1, onSubscribed: new Set() });
    void this.connect_();
  }

  /** The connection's state; listen with on('state'). */
  get state(): ConnectionState {
    return this.state_;
  }

  get online(): boolean {
    return this.ready_ !== null && this.ready_ === this.client_ && this.ready_.connected;
  }

  get sessionId(): string | null {
    return this.online ? this.sessionId_ : null;
  }

  /** Resolves once online; rejects if the broker refuses (PresenceRefusedError) or on close(). */
  whenOnline(): Promise<void> {
    if (this.online) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const off = this.on('state', (s) => {
        if (s.status === 'online') { off(); resolve(); }
        else if (s.status === 'refused') { off(); reject(new PresenceRefusedError(s.reason ?? 'refused', this.refusedCode_)); }
        else if (s.status === 'closed') { off(); reject(new Error('closed')); }
      });
    });
  }

  /** A party of this app: the same object for the same id until it is closed. */
  party(partyId: string): Party {
    checkId('partyId', partyId);
    let p = this.parties_.get(partyId);
    if (!p) {
      p = new Party(partyId, this, () => this.parties_.delete(partyId));
      this.parties_.set(partyId, p);
    }
    return p;
  }

  /** Watches a user's presence (online, last seen, devices, parties). */
  user(userId: string): UserWatch {
    checkId('userId', userId);
    let u = this.users_.get(userId);
    if (!u) {
      u = new UserWatch(userId, this, () => this.users_.delete(userId));
      this.users_.set(userId, u);
    }
    return u;
  }

  /** Changes this user's profile everywhere; later connects carry it too. */
  async setProfile(profile: Partial<Profile>): Promise<void> {
    this.profile_ = { ...this.profile_, ...profile };
    const msg = create(ProfileSchema, this.profile_);
    await this.publish(`presence/profile/${this.userId}/${this.deviceId}`, toBinary(ProfileSchema, msg));
  }

  /** Signs out: this device leaves every party now, then the connection closes (no will). */
  async signOut(): Promise<void> {
    for (const p of this.parties_.values()) p.forget();
    if (this.online) {
      const msg = create(DisconnectSchema, { sessionId: this.sessionId_ ?? '' });
      await this.publish(`presence/disconnect/${this.userId}/${this.deviceId}`, toBinary(DisconnectSchema, msg))
        .catch(() => {});
    }
    await this.close();
  }

  /**
   * Closes the connection without signing out. The broker sees the connection end, so this
   * device's parties list it as reconnecting until the grace period ends (or it comes back).
   */
  async close(): Promise<void> {
    this.stopped_ = true;
    this.clearTimers_();
    const client = this.client_;
    this.client_ = null;
    this.ready_ = null;
    this.setState_({ status: 'closed', attempt: 0, retryAt: null, reason: null });
    this.queries_.failAll(new Error('closed'));
    // Their timers would keep a Node process alive; their last lists stay readable.
    for (const w of [...this.parties_.values(), ...this.users_.values()]) w.close();
    await Promise.all([client, this.swapping_].map((c) => c && endClient(c)));
  }

  /**
   * Offline mode (and the demo's "airplane mode"): drops the socket without an MQTT DISCONNECT,
   * exactly as a lost network does (the broker publishes the will, the others see this device
   * reconnecting), and stops reconnecting until goOnline().
   */
  goOffline(): void {
    this.offline_ = true;
    this.clearTimers_();
    const client = this.client_;
    this.client_ = null;
    this.ready_ = null;
    this.queries_.failAll(new Error('offline'));
    (client as unknown as { stream?: { destroy(): void } } | null)?.stream?.destroy();
    client?.end(true);
    this.setState_({ status: 'reconnecting', attempt: 0, retryAt: null, reason: 'offline mode' });
  }

  /** Leaves offline mode: connects again (new session), and re-asserts every join. */
  goOnline(): void {
    if (!this.offline_ || this.stopped_) return;
    this.offline_ = false;
    void this.connect_();
  }

  /** Test and diagnostics hook: drops the socket without MQTT DISCONNECT, like a lost network. */
  dropConnection(): void {
    (this.client_ as unknown as { stream?: { destroy(): void } } | null)?.stream?.destroy();
  }

  // ---- queries (MQTT 5 request/response) ------------------------------------------------------

  /** Presence of up to 100 users, in request order (an unknown user is offline). */
  async getPresence(userIds: string[]): Promise<import('./model.js').UserInfo[]> {
    return this.queries_.getPresence(this, userIds);
  }

  /** The parties a user is in, sorted. */
  async whereNow(userId: string): Promise<string[]> {
    return this.queries_.whereNow(this, userId);
  }

  /** A user's devices and whether any is live. */
  async userDevices(userId: string): Promise<{ online: boolean; devices: import('./model.js').DeviceInfo[] }> {
    return this.queries_.userDevices(this, userId);
  }

  /** A party's member list as the controller has it now (parties up to 1000 members). */
  async listMembers(partyId: string): Promise<import('./model.js').PartySnapshot> {
    return this.queries_.listMembers(this, partyId);
  }

  // ---- Host (used by Party, UserWatch and Queries) --------------------------------------------

  publish(topic: string, payload: Uint8Array): Promise<void> {
    const client = this.client_;
    if (!client || !this.online) return Promise.reject(new Error('offline'));
    if (this.opts_.faults?.dropOutbound?.(topic, payload)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      client.publish(topic, payload as Buffer, { qos: 1 }, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Publishes with MQTT 5 properties (queries). */
  publishWith(topic: string, payload: Uint8Array, properties: Record<string, unknown>): Promise<void> {
    const client = this.client_;
    if (!client || !this.online) return Promise.reject(new Error('offline'));
    return new Promise((resolve, reject) => {
      client.publish(topic, payload as Buffer, { qos: 1, properties }, (err) => (err ? reject(err) : resolve()));
    });
  }

  watch(topics: string[], onSubscribed: () => void): void {
    const fresh: string[] = [];
    for (const t of topics) {
      let w = this.watched_.get(t);
      if (!w) {
        w = { count: 0, onSubscribed: new Set() };
        this.watched_.set(t, w);
        fresh.push(t);
      }
      w.count++;
      w.onSubscribed.add(onSubscribed);
    }
    if (this.online && fresh.length > 0) this.subscribe_(this.client_!, fresh);
  }

  unwatch(topics: string[]): void {
    const gone: string[] = [];
    for (const t of topics) {
      const w = this.watched_.get(t);
      if (!w) continue;
      if (--w.count <= 0) {
        this.watched_.delete(t);
        gone.push(t);
      }
    }
    if (this.online && gone.length > 0) this.client_!.unsubscribe(gone);
  }

  resubscribe(topics: string[]): void {
    if (this.online) this.subscribe_(this.client_!, topics);
  }

  query(request: QueryRequest): Promise<QueryResponse> {
    return this.queries_.ask(this, request);
  }

  dropInbound(topic: string, payload: Uint8Array): boolean {
    return this.opts_.faults?.dropInbound?.(topic, payload) ?? false;
  }

  // ---- the connection -------------------------------------------------------------------------

  private async token_(): Promise<string | undefined> {
    if (this.opts_.getToken) return await this.opts_.getToken();
    return this.opts_.token;
  }

  private setState_(s: ConnectionState): void {
    this.state_ = s;
    this.emit('state', s);
  }

  private clearTimers_(): void {
    for (const t of [this.reconnectTimer_, this.refreshTimer_]) if (t) clearTimeout(t);
    this.reconnectTimer_ = null;
    this.refreshTimer_ = null;
  }

  // Opens one MQTT connection with a fresh session id; `swap` keeps the current one until the new
  // one is up (a token refresh: the broker hands the client id over, so nobody sees a drop).
  private async connect_(swap = false): Promise<void> {
    if (this.stopped_ || this.offline_) return;
    if (!swap) {
      const attempt = this.state_.attempt + 1;
      this.setState_({ status: this.everOnline_ ? 'reconnecting' : 'connecting', attempt, retryAt: null, reason: this.state_.reason });
    }
    let password: string | undefined;
    try {
      password = await this.token_();
    } catch (err) {
      this.emit('error', new Error(`getToken failed: ${(err as Error).message}`));
      if (!swap) this.scheduleReconnect_(`getToken failed: ${(err as Error).message}`);
      return;
    }
    if (this.stopped_ || this.offline_) return;
    const sessionId = newSessionId();
    if (swap) {
      // Mosquitto publishes the old connection's will when the new one takes the client id over.
      // Announcing the new session on the old connection first makes that will stale (its session
      // is no longer current), so the others see no reconnecting/back blip.
      try {
        await this.publishConnect_(this.client_, sessionId);
      } catch {
        if (this.client_?.connected) this.refreshTimer_ = setTimeout(() => void this.connect_(true), 1000);
        return;
      }
      if (this.stopped_ || !this.online) return;
    }
    const will = toBinary(WillSchema, create(WillSchema, { sessionId }));
    const client = mqtt.connect(this.opts_.url, {
      ...this.opts_.mqttOptions,
      clientId: this.deviceId,
      username: this.userId,
      password,
      protocolVersion: 5,
      clean: true,
      keepalive: this.opts_.keepaliveSeconds ?? 30,
      connectTimeout: this.opts_.connectTimeoutMs ?? 10000,
      reconnectPeriod: 0, // reconnects are the SDK's: each needs a new session id and will
      resubscribe: false,
      will: { topic: `presence/will/${this.userId}/${this.deviceId}`, payload: will as Buffer, qos: 1, retain: false },
    });
    this.connections++;
    if (swap) this.swapping_ = client;
    else this.client_ = client;
    let refused: { reason: string; code: number } | null = null;
    let takenOver = false;
    const current = () => (swap ? this.swapping_ === client : this.client_ === client);

    client.on('connect', () => {
      if (!current()) return;
      const cause = !this.everOnline_ ? 'first' : swap ? 'token-refresh' : 'reconnect';
      if (swap) {
        const old = this.client_;
        this.swapping_ = null;
        this.client_ = client;
        old?.removeAllListeners();
        old?.on('error', () => {});
        old?.end(true);
      }
      this.sessionId_ = sessionId;
      this.everOnline_ = true;
      this.ready_ = client;
      this.onOnline_(client, sessionId);
      this.setState_({ status: 'online', attempt: 0, retryAt: null, reason: null });
      this.emit('connected', { sessionId, cause });
      this.scheduleRefresh_(password);
    });
    client.on('message', (topic, payload, packet) => {
      if (this.client_ !== client) return;
      this.dispatch_(topic, payload, packet.properties?.correlationData);
    });
    client.on('error', (err: Error & { code?: number }) => {
      if (typeof err.code === 'number' && REFUSED[err.code]) refused = { reason: REFUSED[err.code], code: err.code };
      this.emit('error', err);
    });
    client.on('disconnect', (packet) => {
      if (packet.reasonCode === TAKEN_OVER) takenOver = true;
    });
    client.on('close', () => {
      if (swap && this.swapping_ === client) {
        // The fresh connection failed: keep the old one and try again shortly.
        this.swapping_ = null;
        client.end(true);
        if (this.client_?.connected) this.refreshTimer_ = setTimeout(() => void this.connect_(true), 1000);
        else if (!this.stopped_) this.scheduleReconnect_(refused?.reason ?? 'connection lost');
        return;
      }
      if (this.client_ !== client) return;
      if (this.swapping_) return; // the broker handed our client id to the fresh connection
      client.end(true);
      this.ready_ = null;
      this.queries_.failAll(new Error('connection lost'));
      if (refused) {
        this.refusedCode_ = refused.code;
        this.stopped_ = true;
        this.clearTimers_();
        this.setState_({ status: 'refused', attempt: this.state_.attempt, retryAt: null, reason: refused.reason });
        return;
      }
      if (takenOver) {
        // Another connection with this device id (another tab or install): fighting it would
        // make both flap, so stop and say so.
        this.stopped_ = true;
        this.clearTimers_();
        this.setState_({ status: 'refused', attempt: 0, retryAt: null, reason: 'taken over by another connection with the same device id' });
        return;
      }
      this.scheduleReconnect_('connection lost');
    });
  }

  private scheduleReconnect_(reason: string): void {
    if (this.stopped_ || this.offline_) return;
    if (this.refreshTimer_) clearTimeout(this.refreshTimer_);
    this.refreshTimer_ = null;
    const min = this.opts_.reconnect?.minDelayMs ?? 500;
    const max = this.opts_.reconnect?.maxDelayMs ?? 30000;
    const cap = Math.min(max, min * 2 ** Math.min(this.state_.attempt, 16));
    const delay = min + Math.random() * Math.max(0, cap - min); // capped, jittered
    this.setState_({ status: this.everOnline_ ? 'reconnecting' : 'connecting', attempt: this.state_.attempt,
      retryAt: new Date(Date.now() + delay), reason });
    if (this.reconnectTimer_) clearTimeout(this.reconnectTimer_);
    this.reconnectTimer_ = setTimeout(() => {
      this.reconnectTimer_ = null;
      void this.connect_();
    }, delay);
  }

  private scheduleRefresh_(token: string | undefined): void {
    if (this.refreshTimer_) clearTimeout(this.refreshTimer_);
    this.refreshTimer_ = null;
    if (!token || !this.opts_.getToken) return;
    const t = tokenTimes(token);
    if (!t) return;
    const delay = refreshDelayMs(t.exp, t.iat, Date.now(), this.opts_.tokenRefreshMarginMs ?? 60000);
    this.refreshTimer_ = setTimeout(() => {
      this.refreshTimer_ = null;
      if (this.online && !this.swapping_) void this.connect_(true);
    }, delay);
  }

  // Right after CONNACK: the connect message (same session id as the will), then every watched
  // topic, then the joins (idempotent, so republishing them after every reconnect is the pattern).
  private onOnline_(client: MqttClient, sessionId: string): void {
    this.publishConnect_(client, sessionId).catch(() => {});
    this.subscribe_(client, [...this.watched_.keys()]);
    for (const p of this.parties_.values()) p.onReconnected();
  }

  private publishConnect_(client: MqttClient | null, sessionId: string): Promise<void> {
    if (!client) return Promise.reject(new Error('offline'));
    const connect = create(ConnectSchema, { sessionId, profile: create(ProfileSchema, this.profile_) });
    return new Promise((resolve, reject) => {
      client.publish(`presence/connect/${this.userId}/${this.deviceId}`, toBinary(ConnectSchema, connect) as Buffer,
        { qos: 1 }, (err) => (err ? reject(err) : resolve()));
    });
  }

  private subscribe_(client: MqttClient, topics: string[]): void {
    if (topics.length === 0) return;
    client.subscribe(topics, { qos: 1 }, (err) => {
      if (err || this.client_ !== client) return;
      const callbacks = new Set<() => void>();
      for (const t of topics) for (const cb of this.watched_.get(t)?.onSubscribed ?? []) callbacks.add(cb);
      for (const cb of callbacks) cb();
    });
  }

  private dispatch_(topic: string, payload: Uint8Array, correlation: Uint8Array | undefined): void {
    if (topic === this.queries_.replyTopic) {
      this.queries_.onReply(payload, correlation);
      return;
    }
    if (topic.startsWith('party/')) {
      const id = topic.split('/')[1];
      this.parties_.get(id)?.onMessage(topic, payload);
    } else if (topic.startsWith('presence/user/')) {
      this.users_.get(topic.slice('presence/user/'.length))?.onMessage(topic, payload);
    }
  }
}

/** Makes a Presence connection and returns it at once (it connects in the background). */
export function createPresence(options: PresenceOptions): Presence {
  return new Presence(options);
}

/** Connects and resolves once online; rejects with PresenceRefusedError if the broker refuses. */
export async function connectPresence(options: PresenceOptions): Promise<Presence> {
  const p = new Presence(options);
  await p.whenOnline();
  return p;
}

/** How long close() waits for the broker to acknowledge what is in flight before it gives up. */
const CLOSE_FLUSH_MS = 2000;

/**
 * Ends an MQTT.js client. A graceful end() waits for every unacknowledged QoS 1 publish, and it
 * waits for ever when no acknowledgement can come (a silent network, or a client that is
 * reconnecting: end() cancels the reconnect). So an offline client ends at once, and an online
 * one gets CLOSE_FLUSH_MS to flush before the wait is cut short.
 */
function endClient(client: MqttClient): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!client.connected) {
      client.end(true, {}, () => resolve());
      return;
    }
    // end(false) waits for 'outgoingEmpty'; raising it ends the wait (a second end() would not).
    const timer = setTimeout(() => client.emit('outgoingEmpty'), CLOSE_FLUSH_MS);
    client.end(false, {}, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
