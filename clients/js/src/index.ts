// @mqtt-presence/client: party presence for apps over MQTT. See docs/sdk.md in the repository.
export { connectPresence, createPresence, Presence, PresenceRefusedError } from './presence.js';
export type { ConnectionState, ConnectionStatus, PresenceEvents, PresenceOptions } from './presence.js';
export { Party } from './party.js';
export type { PartyEvents, SyncCause } from './party.js';
export { UserWatch } from './user.js';
export type { UserEvents } from './user.js';
export { PresenceQueryError } from './queries.js';
export type { DeviceInfo, LeaveReason, Member, PartySnapshot, Profile, RawPartyEvent, UserInfo } from './model.js';
export { isValidId } from './ids.js';
export { PartyView } from './view.js';
export { refreshDelayMs, tokenTimes } from './token.js';
export type { Change } from './view.js';
