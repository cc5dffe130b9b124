// The SDK's public data types and their conversion from the generated protobuf messages. Only the
// public fields of protocol v1 are read (members, states, deadlines, profiles, devices, revisions,
// times): nothing an app should not depend on.
import { timestampDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import {
  DeviceState, EventKind, MemberState,
  type Device as PbDevice, type Member as PbMember, type PartyEvent as PbPartyEvent,
  type PartyMembers as PbPartyMembers, type Profile as PbProfile, type UserPresence as PbUserPresence,
} from './gen/presence/v1/presence_pb.js';

/** What other people see of a user. */
export interface Profile {
  displayName: string;
  avatarUrl: string;
  statusText: string;
}

/** One device of a member or user: live, or reconnecting until its deadline. */
export interface DeviceInfo {
  deviceId: string;
  state: 'live' | 'reconnecting';
  /** Set while reconnecting: when the device is dropped unless it comes back. */
  reconnectDeadline: Date | null;
}

/** One user in a party (one entry per user, however many devices they have). */
export interface Member {
  userId: string;
  /** present: a device is live; reconnecting: every device lost its connection (see deadline). */
  state: 'present' | 'reconnecting';
  /** Set while reconnecting: when the member leaves unless a device comes back. */
  reconnectDeadline: Date | null;
  profile: Profile;
  devices: DeviceInfo[];
  joinedAt: Date | null;
}

/** Why a member left: the controller's reason, or unknown when only a snapshot showed it. */
export type LeaveReason = 'explicit' | 'timeout' | 'sign_out' | 'unknown';

/** User-level presence: online anywhere, last seen, devices and parties. */
export interface UserInfo {
  userId: string;
  online: boolean;
  lastSeen: Date | null;
  profile: Profile;
  devices: DeviceInfo[];
  parties: string[];
}

/** A party's member list at one revision, as a query answers it. */
export interface PartySnapshot {
  partyId: string;
  revision: bigint;
  members: Member[];
  updatedAt: Date | null;
}

function date(ts: Timestamp | undefined): Date | null {
  return ts ? timestampDate(ts) : null;
}

export function profileOf(p: PbProfile | undefined): Profile {
  return { displayName: p?.displayName ?? '', avatarUrl: p?.avatarUrl ?? '', statusText: p?.statusText ?? '' };
}

export function deviceOf(d: PbDevice): DeviceInfo {
  return {
    deviceId: d.deviceId,
    state: d.state === DeviceState.RECONNECTING ? 'reconnecting' : 'live',
    reconnectDeadline: date(d.reconnectDeadline),
  };
}

export function memberOf(m: PbMember): Member {
  return {
    userId: m.userId,
    state: m.state === MemberState.RECONNECTING ? 'reconnecting' : 'present',
    reconnectDeadline: date(m.reconnectDeadline),
    profile: profileOf(m.profile),
    devices: m.devices.map(deviceOf),
    joinedAt: date(m.joinedAt),
  };
}

export function userOf(u: PbUserPresence): UserInfo {
  return {
    userId: u.userId,
    online: u.online,
    lastSeen: date(u.lastSeen),
    profile: profileOf(u.profile),
    devices: u.devices.map(deviceOf),
    parties: [...u.parties],
  };
}

export function snapshotOf(s: PbPartyMembers): PartySnapshot {
  return { partyId: s.partyId, revision: s.revision, members: s.members.map(memberOf), updatedAt: date(s.updatedAt) };
}

export function leaveReasonOf(r: number): LeaveReason {
  switch (r) {
    case 1: return 'explicit';
    case 2: return 'timeout';
    case 3: return 'sign_out';
    default: return 'unknown';
  }
}

/** The controller's event in the SDK's terms, for logs ("bob left (timeout)"). */
export interface RawPartyEvent {
  partyId: string;
  revision: bigint;
  kind: 'joined' | 'left' | 'reconnecting' | 'back' | 'updated' | 'unknown';
  member: Member | null;
  reason: LeaveReason | null;
  at: Date | null;
}

export function eventOf(e: PbPartyEvent): RawPartyEvent {
  const kinds: Record<number, RawPartyEvent['kind']> = {
    [EventKind.JOINED]: 'joined', [EventKind.LEFT]: 'left', [EventKind.RECONNECTING]: 'reconnecting',
    [EventKind.BACK]: 'back', [EventKind.UPDATED]: 'updated',
  };
  return {
    partyId: e.partyId,
    revision: e.revision,
    kind: kinds[e.kind] ?? 'unknown',
    member: e.member ? memberOf(e.member) : null,
    reason: e.kind === EventKind.LEFT ? leaveReasonOf(e.reason) : null,
    at: date(e.at),
  };
}

/** Two members are the same when every public field matches (used to detect 'update'). */
export function sameMember(a: Member, b: Member): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
