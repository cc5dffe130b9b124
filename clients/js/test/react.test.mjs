// The React hooks under a real renderer: react-dom's createRoot in a jsdom document (react-dom is
// what apps ship, so this exercises the same reconciler and effects; react-test-renderer is
// deprecated since React 19), fed by a real Presence connection to a real stack.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { JSDOM } from 'jsdom';
import * as mqtt from 'mqtt';
import { createElement as h } from 'react';
import { connectPresence } from '../dist/index.js';
import { PresenceProvider, useConnectionState, usePartyMembers, useUserPresence } from '../dist/react.js';
import { startStack } from '../../../tests/browser/stack.mjs';
import { missingTools, sourceDir, token, waitUntil } from './helpers.mjs';

const missing = missingTools();
let stack;
const clients = [];

before(async () => {
  if (missing) return;
  const dom = new JSDOM('<!doctype html><html><body><div id="root"></div></body></html>');
  globalThis.window = dom.window;
  globalThis.document = dom.window.document;
  if (!globalThis.navigator) globalThis.navigator = dom.window.navigator; // Node 20 has none
  stack = await startStack({
    mqtt, sourceDir, controllerBin: process.env.PRESENCE_CONTROLLER_BIN,
    pluginSo: process.env.PLUGIN_SO, tokenBin: process.env.TOKEN_BIN,
  });
});

after(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
  await stack?.stop();
});

function Screen({ party, watch }) {
  const conn = useConnectionState();
  const { members, synced } = usePartyMembers(party);
  const users = useUserPresence(watch);
  return h('div', null,
    h('p', { id: 'conn' }, conn.status),
    h('p', { id: 'synced' }, String(synced)),
    h('ul', { id: 'members' }, members.map((m) => h('li', { key: m.userId, 'data-state': m.state }, m.profile.displayName))),
    h('ul', { id: 'users' }, watch.map((id) => h('li', { key: id }, `${id}:${users[id]?.online ? 'online' : 'offline'}`))));
}

test('usePartyMembers, useUserPresence and useConnectionState follow the live stack', { skip: missing ?? false }, async () => {
  const { createRoot } = await import('react-dom/client');
  const url = `mqtt://127.0.0.1:${stack.port}`;
  const connect = async (user) => {
    const p = await connectPresence({ url, userId: user, deviceId: `${user}-dev`, token: token(stack.keyFile, user),
      profile: { displayName: user.toUpperCase() } });
    clients.push(p);
    return p;
  };
  const alice = await connect('alice');
  const root = createRoot(document.getElementById('root'));
  root.render(h(PresenceProvider, { presence: alice }, h(Screen, { party: 'hooks', watch: ['bob'] })));
  const text = (sel) => document.querySelector(sel)?.textContent;
  await waitUntil('online', () => text('#conn') === 'online');
  await waitUntil('synced', () => text('#synced') === 'true');
  assert.equal(text('#members'), '');
  assert.equal(text('#users'), 'bob:offline');

  const bob = await connect('bob');
  await bob.party('hooks').join();
  await waitUntil('bob listed', () => text('#members') === 'BOB');
  await waitUntil('bob online', () => text('#users') === 'bob:online');
  await alice.party('hooks').join();
  await waitUntil('both listed', () => text('#members') === 'BOBALICE');

  await bob.party('hooks').leave();
  await waitUntil('bob gone', () => text('#members') === 'ALICE');
  await alice.close();
  await waitUntil('closed', () => text('#conn') === 'closed');
  root.unmount();
});
