// The SDK against a real stack: mosquitto with mosquitto-conf/dev.conf (the presence plugin, JWT
// auth, identity ACL) and the real presence-controller with a 4 s grace period, driven by real
// MQTT.js connections through the built package (dist/). Tokens come from `presencectl token`.
// Each scenario uses its own party and users, so they do not see each other.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as mqtt from 'mqtt';
import { connectPresence, createPresence, PresenceRefusedError } from '../dist/index.js';
import { startStack } from '../../../tests/browser/stack.mjs';
import { missingTools, record, shape, sleep, sourceDir, startProxy, token, waitUntil } from './helpers.mjs';

const missing = missingTools();
const GRACE_MS = 4000;
let stack;
let url;
const clients = [];

/** A device of `user` whose getToken mints a fresh token from the stack's key. */
function device(user, deviceId, extra = {}) {
  const p = createPresence({
    url, userId: user, deviceId,
    getToken: () => token(stack.keyFile, user),
    profile: { displayName: user[0].toUpperCase() + user.slice(1) },
    reconnect: { minDelayMs: 100, maxDelayMs: 1000 },
    queryTimeoutMs: 3000,
    ...extra,
  });
  clients.push(p);
  return p;
}

describe('SDK against mosquitto + plugin + controller', { skip: missing ?? false }, () => {
  before(async () => {
    stack = await startStack({
      mqtt, sourceDir, controllerBin: process.env.PRESENCE_CONTROLLER_BIN,
      pluginSo: process.env.PLUGIN_SO, tokenBin: process.env.TOKEN_BIN, grace: `${GRACE_MS / 1000}s`,
    });
    url = `mqtt://127.0.0.1:${stack.port}`;
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    const failed = process.exitCode !== undefined && process.exitCode !== 0;
    await stack?.stop({ keep: failed });
    if (failed && stack) console.log(`kept broker and controller logs in ${stack.dir}`);
  });

  test('join and leave are seen by a second client', async () => {
    const alice = device('alice', 'alice-phone');
    const bob = device('bob', 'bob-phone');
    const seen = bob.party('p-join');
    const log = record(seen);
    await waitUntil('bob synced', () => seen.synced);
    await alice.party('p-join').join();
    await waitUntil('bob sees alice', () => seen.member('alice')?.state === 'present');
    assert.equal(seen.member('alice').profile.displayName, 'Alice');
    await alice.party('p-join').leave();
    await waitUntil('bob sees alice leave', () => log.includes('leave alice explicit'));
    assert.equal(seen.member('alice'), undefined);
    assert.deepEqual(log.filter((l) => l.includes('alice')), ['join alice', 'leave alice explicit']);
  });

  test('a reconnect inside the grace period: no leave on the other side', async () => {
    const carol = device('carol', 'carol-phone');
    const dave = device('dave', 'dave-phone');
    await carol.party('p-blip').join();
    const seen = dave.party('p-blip');
    const log = record(seen);
    await waitUntil('dave sees carol', () => seen.member('carol')?.state === 'present');
    const sessions = [carol.sessionId];
    carol.on('connected', (i) => sessions.push(i.sessionId));
    carol.dropConnection(); // the socket dies without DISCONNECT: the broker sends the will
    await waitUntil('carol reconnected', () => sessions.length === 2 && carol.online);
    await waitUntil('carol present again', () => seen.member('carol')?.state === 'present');
    await sleep(GRACE_MS + 1500); // past the grace period: a wrongly kept deadline would fire now
    assert.equal(seen.member('carol')?.state, 'present');
    assert.deepEqual(log.filter((l) => /^(join|leave) carol/.test(l)), [], `no leave/join flicker: ${log}`);
    assert.notEqual(sessions[0], sessions[1], 'a new session id per connection');
  });

  test('airplane mode (the socket goes silent): reconnecting, then left; back when the network is', async () => {
    const proxy = await startProxy(stack.port);
    try {
      const erin = createPresence({
        url: `mqtt://127.0.0.1:${proxy.port}`, userId: 'erin', deviceId: 'erin-phone',
        getToken: () => token(stack.keyFile, 'erin'), keepaliveSeconds: 2, connectTimeoutMs: 2000,
        reconnect: { minDelayMs: 100, maxDelayMs: 500 },
      });
      clients.push(erin);
      const states = [];
      erin.on('state', (s) => states.push(s.status));
      const frank = device('frank', 'frank-phone');
      const seen = frank.party('p-air');
      const log = record(seen);
      await erin.party('p-air').join();
      await waitUntil('frank sees erin', () => seen.member('erin')?.state === 'present');
      proxy.silent = true;
      await waitUntil('frank sees erin reconnecting', () => seen.member('erin')?.state === 'reconnecting');
      assert.ok(seen.member('erin').reconnectDeadline instanceof Date);
      await waitUntil('frank sees erin leave after the grace', () => log.includes('leave erin timeout'), 30000);
      assert.ok(log.indexOf('reconnecting erin') < log.indexOf('leave erin timeout'), log.join(', '));
      assert.ok(states.includes('reconnecting'), `erin's own state went reconnecting: ${states}`);
      proxy.silent = false;
      // Declarative membership: back on the network, the SDK joins again by itself.
      await waitUntil('erin rejoined by herself', () => seen.member('erin')?.state === 'present', 30000);
      await erin.close();
    } finally {
      await proxy.close();
    }
  });

  test('a revision gap (dropped messages) is healed from the retained snapshot', async () => {
    let armed = false;
    let droppedSnapshots = 0;
    const gina = device('gina', 'gina-phone', {
      faults: {
        dropInbound: (topic) => {
          if (!armed || !topic.startsWith('party/p-gap/')) return false;
          if (topic.endsWith('/members')) droppedSnapshots++;
          if (droppedSnapshots >= 2 && topic.endsWith('/events')) armed = false; // let this one through
          return armed;
        },
      },
    });
    const hank = device('hank', 'hank-phone');
    const seen = gina.party('p-gap');
    const log = record(seen);
    await hank.party('p-gap').join();
    await waitUntil('gina sees hank', () => seen.member('hank'));
    const before = seen.revision;
    armed = true;
    await hank.setProfile({ displayName: 'Hank one' }); // snapshot + event dropped
    await waitUntil('first change dropped', () => droppedSnapshots >= 1);
    await hank.setProfile({ displayName: 'Hank two' }); // snapshot dropped, event arrives: a gap
    await waitUntil('gina healed', () => seen.member('hank')?.profile.displayName === 'Hank two');
    assert.ok(seen.gapsHealed >= 1, 'the gap made the SDK re-read the snapshot');
    assert.ok(log.includes('sync gap'), log.join(', '));
    assert.ok(seen.revision >= before + 2n);
    const truth = await gina.listMembers('p-gap');
    assert.equal(seen.revision, truth.revision);
    assert.equal(shape(seen.members), shape(truth.members));
  });

  test('kill -9 of the controller and a restart: every client ends with the truth', async () => {
    const ivy = device('ivy', 'ivy-phone');
    const jack = device('jack', 'jack-phone');
    const kim = device('kim', 'kim-phone');
    await Promise.all([ivy, jack, kim].map((c) => c.party('p-crash').join()));
    await stack.killController('SIGKILL');
    // While it is down: a leave and a new join, queued for its persistent session.
    const jackLeft = jack.party('p-crash').leave({ timeoutMs: 60000 });
    const lena = device('lena', 'lena-phone');
    const lenaJoined = lena.party('p-crash').join({ timeoutMs: 60000 });
    await sleep(500);
    await stack.startController();
    await Promise.all([jackLeft, lenaJoined]);
    const want = 'ivy:ivy-phone kim:kim-phone lena:lena-phone';
    for (const c of [ivy, jack, kim, lena]) {
      await waitUntil(`${c.userId} sees the truth`, () => shape(c.party('p-crash').members) === want);
    }
    const truth = await kim.listMembers('p-crash');
    assert.equal(shape(truth.members), want);
    for (const c of [ivy, jack, kim, lena]) assert.equal(c.party('p-crash').revision, truth.revision);
  });

  test('a token that expires during the connection is refreshed; nobody sees a leave', async () => {
    let minted = 0;
    const mona = device('mona', 'mona-phone', {
      getToken: () => { minted++; return token(stack.keyFile, 'mona', '8s'); },
    });
    const states = [];
    mona.on('state', (s) => states.push(s.status));
    const nick = device('nick', 'nick-phone');
    const seen = nick.party('p-token');
    const log = record(seen);
    await mona.party('p-token').join();
    await waitUntil('nick sees mona', () => seen.member('mona')?.state === 'present');
    // Two lifetimes of the token: without a refresh the plugin kicks her at `exp`.
    await sleep(17000);
    assert.ok(minted >= 3, `getToken was called again ahead of exp (${minted} times)`);
    assert.ok(mona.connections >= 3, 'each refresh is a new connection');
    assert.ok(!states.includes('reconnecting'), `no drop in between: ${states}`);
    assert.deepEqual(log.filter((l) => l.includes('mona') && !l.startsWith('join')), [], log.join(', '));
    assert.equal(seen.member('mona')?.state, 'present');
    await mona.close();
  });

  test('a wrong token is reported as refused and not retried', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sdk-key-'));
    writeFileSync(path.join(dir, 'other.key'), 'another-key-that-the-broker-does-not-know-0123456789');
    const bad = token(path.join(dir, 'other.key'), 'olga');
    let asked = 0;
    const attempt = connectPresence({
      url, userId: 'olga', deviceId: 'olga-phone', getToken: () => { asked++; return bad; },
      reconnect: { minDelayMs: 50, maxDelayMs: 100 },
    });
    await assert.rejects(attempt, (err) => err instanceof PresenceRefusedError && /bad user name or password|not authorized/.test(err.message));
    await sleep(1000);
    assert.equal(asked, 1, 'a refusal is not retried');
  });

  test('a user with two devices is shown once', async () => {
    const phone = device('oscar', 'oscar-phone');
    const laptop = device('oscar', 'oscar-laptop');
    const pat = device('pat', 'pat-phone');
    const seen = pat.party('p-multi');
    const log = record(seen);
    await waitUntil('pat synced (an empty party: from the list_members answer)', () => seen.synced);
    assert.ok(log.includes('sync query'), log.join(', '));
    await phone.party('p-multi').join();
    await laptop.party('p-multi').join();
    await waitUntil('two devices', () => seen.member('oscar')?.devices.length === 2);
    assert.equal(seen.members.filter((m) => m.userId === 'oscar').length, 1);
    await phone.party('p-multi').leave();
    await waitUntil('one device left', () => seen.member('oscar')?.devices.length === 1);
    assert.equal(seen.member('oscar').devices[0].deviceId, 'oscar-laptop');
    assert.deepEqual(log.filter((l) => l.includes('oscar')), ['join oscar']);
    const presence = await pat.getPresence(['oscar', 'nobody']);
    assert.equal(presence[0].online, true);
    assert.equal(presence[1].online, false);
    assert.deepEqual(await pat.whereNow('oscar'), ['p-multi']);
    assert.equal((await pat.userDevices('oscar')).devices.length, 2);
    const watch = pat.user('oscar');
    await waitUntil('user record', () => watch.user?.online === true);
    assert.deepEqual(watch.user.parties, ['p-multi']);
  });

  test('a lost join heals when a snapshot does not list this device', async () => {
    let dropJoins = false;
    const quinn = device('quinn', 'quinn-phone', {
      faults: { dropOutbound: (topic) => dropJoins && topic === 'party/p-heal/join/quinn/quinn-phone' },
    });
    const rita = device('rita', 'rita-phone');
    await rita.party('p-heal').join();
    const party = quinn.party('p-heal');
    await waitUntil('quinn synced', () => party.synced && party.member('rita'));
    dropJoins = true;
    const joined = party.join({ timeoutMs: 4500 }); // before the 5 s confirmation retry
    await sleep(1200);
    dropJoins = false;
    await rita.setProfile({ statusText: 'here' }); // a snapshot that does not list quinn
    await joined;
    assert.equal(party.member('quinn')?.state, 'present');
  });

  test('close() ends even when the broker never acknowledges what is in flight', async () => {
    const proxy = await startProxy(stack.port);
    try {
      const sam = createPresence({
        url: `mqtt://127.0.0.1:${proxy.port}`, userId: 'sam', deviceId: 'sam-phone',
        getToken: () => token(stack.keyFile, 'sam'), reconnect: { minDelayMs: 100, maxDelayMs: 1000 },
      });
      await sam.whenOnline();
      proxy.silent = true; // the link stays up but nothing gets through: no PUBACK can come
      sam.party('p-close').join().catch(() => {}); // one QoS 1 publish in flight
      await sleep(200);
      const started = Date.now();
      await sam.close();
      assert.ok(Date.now() - started < 10000, `close() took ${Date.now() - started} ms`);
    } finally {
      await proxy.close();
    }
  });
});
