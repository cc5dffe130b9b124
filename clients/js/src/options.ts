// The options, states, events and errors of a Presence connection: the SDK's public vocabulary
// for connections, kept apart from the connection logic in presence.ts.
import type { IClientOptions } from 'mqtt';
import type { Profile } from './model.js';

/** How to reach the broker and who this device is. */
export interface PresenceOptions {
  /** ws://host:9001/mqtt in browsers and React Native, mqtt://host:1883 in Node. */
  url: string;
  userId: string;
  /** Stable per installation and unique across the broker (a UUID is a good choice). */
  deviceId: string;
  /** A fixed token (JWT); prefer getToken, which is asked again before every connect. */
  token?: string;
  /** Returns a fresh token; called before every connect and ahead of the token's `exp`. */
  getToken?: () => string | Promise<string>;
  profile?: Partial<Profile>;
  /** MQTT keepalive; the broker declares the connection lost after 1.5 x this. Default 30. */
  keepaliveSeconds?: number;
  connectTimeoutMs?: number;
  /** Reconnect backoff: full jitter between min and an exponentially growing cap. */
  reconnect?: { minDelayMs?: number; maxDelayMs?: number };
  /** Refresh the token at most this long before `exp` (a quarter of its lifetime at most). */
  tokenRefreshMarginMs?: number;
  queryTimeoutMs?: number;
  /** Extra MQTT.js options (e.g. wsOptions); identity, will and reconnects stay the SDK's. */
  mqttOptions?: Partial<IClientOptions>;
  /** Fault injection for tests only: drop messages as a lossy network would. */
  faults?: {
    dropInbound?: (topic: string, payload: Uint8Array) => boolean;
    dropOutbound?: (topic: string, payload: Uint8Array) => boolean;
  };
}

/** The connection's state, as an app shows it. */
export type ConnectionStatus = 'connecting' | 'online' | 'reconnecting' | 'refused' | 'closed';

/** The state plus what explains it. */
export interface ConnectionState {
  status: ConnectionStatus;
  /** Connection attempts since the last time online. */
  attempt: number;
  /** When reconnecting: when the next attempt starts. */
  retryAt: Date | null;
  /** When refused (or the last error while reconnecting): the broker's reason. */
  reason: string | null;
}

/** The events of a Presence connection. */
export type PresenceEvents = {
  state: [state: ConnectionState];
  /** A connection was established (first, after a reconnect, or after a token refresh). */
  connected: [info: { sessionId: string; cause: 'first' | 'reconnect' | 'token-refresh' }];
  /** Something went wrong that the SDK handles by itself; for logs. */
  error: [error: Error];
};

/** Thrown by connectPresence when the broker refuses this user, device or token. */
export class PresenceRefusedError extends Error {
  constructor(readonly reason: string, readonly code: number) {
    super(`the broker refused the connection: ${reason}`);
    this.name = 'PresenceRefusedError';
  }
}

// CONNACK reason codes that retrying with the same credentials cannot fix (MQTT 5 and 3.1.1).
export const REFUSED: Record<number, string> = {
  4: 'bad user name or password', 5: 'not authorized', 134: 'bad user name or password',
  135: 'not authorized', 133: 'client identifier not valid', 138: 'banned', 140: 'bad authentication method',
};
export const TAKEN_OVER = 142;
