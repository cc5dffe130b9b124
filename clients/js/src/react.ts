// React hooks over a Presence connection (the "./react" entry point, so apps without React never
// load it). Put the connection in a PresenceProvider, then read parties, users and the connection
// state with hooks; each hook re-renders only on changes of what it reads.
import { createContext, createElement, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import type { Member, UserInfo } from './model.js';
import type { ConnectionState, Presence } from './presence.js';

/** The connection the hooks read; null outside a PresenceProvider. */
export const PresenceContext = createContext<Presence | null>(null);

/** Makes `presence` available to the hooks below it. */
export function PresenceProvider(props: { presence: Presence; children?: ReactNode }): ReactNode {
  return createElement(PresenceContext.Provider, { value: props.presence }, props.children);
}

/** The Presence of the nearest provider (or the one passed in); throws when there is none. */
export function usePresence(presence?: Presence): Presence {
  const p = useContext(PresenceContext);
  const value = presence ?? p;
  if (!value) throw new Error('usePresence: no PresenceProvider above this component');
  return value;
}

/** A party's members, whether the list is complete yet, and its revision; live. */
export function usePartyMembers(partyId: string, presence?: Presence):
  { members: readonly Member[]; synced: boolean; revision: bigint | null } {
  const p = usePresence(presence);
  const party = useMemo(() => p.party(partyId), [p, partyId]);
  const read = () => ({ members: party.members, synced: party.synced, revision: party.revision });
  const [state, setState] = useState(read);
  useEffect(() => {
    setState(read());
    const update = () => setState(read());
    const offs = [party.on('change', update), party.on('sync', update)];
    return () => offs.forEach((off) => off());
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [party]);
  return state;
}

/** The presence of each user (null until known), keyed by user id; live. */
export function useUserPresence(userIds: readonly string[], presence?: Presence): Record<string, UserInfo | null> {
  const p = usePresence(presence);
  const key = userIds.join('\n');
  const watches = useMemo(() => userIds.map((id) => p.user(id)), [p, key]); // eslint-disable-line react-hooks/exhaustive-deps
  const read = () => Object.fromEntries(watches.map((w) => [w.userId, w.user]));
  const [state, setState] = useState(read);
  useEffect(() => {
    setState(read());
    const offs = watches.map((w) => w.on('update', () => setState(read())));
    return () => offs.forEach((off) => off());
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [watches]);
  return state;
}

/** The connection's state (connecting, online, reconnecting, refused, closed); live. */
export function useConnectionState(presence?: Presence): ConnectionState {
  const p = usePresence(presence);
  const [state, setState] = useState(p.state);
  useEffect(() => {
    setState(p.state);
    return p.on('state', setState);
  }, [p]);
  return state;
}
