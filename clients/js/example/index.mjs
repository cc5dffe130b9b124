// A terminal party screen on the SDK: joins a party on a running `scripts/run` and prints every
// member change as it happens. Install the SDK from its packed tarball first (see README.md):
//   npm install ../mqtt-presence-client-0.1.0.tgz
//   node index.mjs --user alice --token-file ../../../.run/tokens/alice --party demo
// Flags: --url (mqtt://127.0.0.1:1883), --user, --device (<user>-example), --party (demo),
// --token-file, or the token in $PRESENCE_TOKEN; Ctrl-C leaves the party and signs out.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { connectPresence } from '@mqtt-presence/client';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
    user: { type: 'string', default: 'alice' },
    device: { type: 'string' },
    party: { type: 'string', default: 'demo' },
    'token-file': { type: 'string' },
  },
});
const token = args['token-file'] ? readFileSync(args['token-file'], 'utf8').trim() : process.env.PRESENCE_TOKEN;
const say = (line) => console.log(`${new Date().toISOString().slice(11, 23)} ${line}`);
const who = (m) => `${m.profile.displayName || m.userId} (${m.devices.map((d) => d.deviceId).join(', ')})`;

const presence = await connectPresence({
  url: args.url,
  userId: args.user,
  deviceId: args.device ?? `${args.user}-example`,
  token,
  profile: { displayName: args.user },
});
presence.on('state', (s) => say(`connection: ${s.status}${s.reason ? ` (${s.reason})` : ''}`));
say(`online as ${presence.userId}/${presence.deviceId}`);

const party = presence.party(args.party);
party.on('sync', ({ cause }) => say(`members of ${party.id} (${cause}): ${party.members.map(who).join(', ') || 'nobody'}`));
party.on('join', (m) => say(`${who(m)} joined`));
party.on('leave', (m, reason) => say(`${m.userId} left (${reason})`));
party.on('reconnecting', (m) => say(`${m.userId} is reconnecting, gone at ${m.reconnectDeadline?.toISOString()} unless back`));
party.on('back', (m) => say(`${m.userId} is back`));
party.on('update', (m) => say(`${who(m)} updated`));
await party.join();
say(`joined ${party.id}`);

process.on('SIGINT', async () => {
  await presence.signOut();
  process.exit(0);
});
process.on('SIGTERM', async () => {
  await presence.signOut();
  process.exit(0);
});
