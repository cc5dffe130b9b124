// Helpers of the SDK's tests against a real stack (tests/browser/stack.mjs: mosquitto with the
// project's dev.conf and the presence plugin, and the real presence-controller): tokens from
// `presencectl token`, a TCP proxy that can go silent (airplane mode), and polling waits.
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const sourceDir = process.env.PRESENCE_SOURCE_DIR ?? path.resolve(here, '..', '..', '..');

/** Names what is missing to run against a real stack, or null when everything is there. */
export function missingTools() {
  const need = ['PRESENCE_CONTROLLER_BIN', 'PLUGIN_SO', 'TOKEN_BIN', 'PRESENCECTL_BIN'];
  const gone = need.filter((n) => !process.env[n]);
  return gone.length ? `${gone.join(', ')} not set (run through ctest: ctest -R clients/js)` : null;
}

/** A token for `user` from `presencectl token`, signed with the stack's key. */
export function token(keyFile, user, ttl = '1h') {
  return execFileSync(process.env.PRESENCECTL_BIN, ['token', '--key-file', keyFile, '--user', user, '--ttl', ttl],
    { encoding: 'utf8' }).trim();
}

/** Polls `check` until it returns a truthy value; fails after `timeoutMs` with `what`. */
export async function waitUntil(what, check, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A TCP proxy in front of the broker. `silent = true` is airplane mode: sockets stay open but no
 * byte passes either way (new connections are accepted and go nowhere), so only keepalives can
 * tell. `cut()` closes every socket at once (a network drop the client notices).
 */
export async function startProxy(targetPort) {
  const pairs = new Set();
  const state = { silent: false };
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pair = { client, upstream };
    pairs.add(pair);
    const forward = (from, to) => from.on('data', (chunk) => { if (!state.silent) to.write(chunk); });
    forward(client, upstream);
    forward(upstream, client);
    const end = () => { pairs.delete(pair); client.destroy(); upstream.destroy(); };
    client.on('close', end); upstream.on('close', end);
    client.on('error', end); upstream.on('error', end);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    set silent(v) { state.silent = v; },
    get silent() { return state.silent; },
    cut() { for (const p of [...pairs]) { p.client.destroy(); p.upstream.destroy(); } },
    close() { this.cut(); return new Promise((r) => server.close(r)); },
  };
}

/** Records a party's app-facing events as strings like "join bob" or "leave bob timeout". */
export function record(party) {
  const log = [];
  party.on('join', (m) => log.push(`join ${m.userId}`));
  party.on('leave', (m, reason) => log.push(`leave ${m.userId} ${reason}`));
  party.on('reconnecting', (m) => log.push(`reconnecting ${m.userId}`));
  party.on('back', (m) => log.push(`back ${m.userId}`));
  party.on('sync', (i) => log.push(`sync ${i.cause}`));
  return log;
}

/** "user:device,device" per member, sorted: a party's list in one comparable string. */
export function shape(members) {
  return members.map((m) => `${m.userId}:${m.devices.map((d) => d.deviceId).sort().join(',')}`).sort().join(' ');
}
