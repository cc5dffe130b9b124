// The party screen: one browser tab is one device of one user. It connects to Mosquitto over
// WebSockets like a real app (username = user id, client id = device id, Last Will on
// presence/will/<user>/<device>, then presence/connect with a fresh session id), shows the party's
// retained JSON snapshot as avatars, and can join, leave, sign out or go into "airplane mode"
// (drop the socket without an MQTT DISCONNECT, so the broker publishes the Last Will).
import mqtt from 'mqtt';
import {
  describeEvent, formatCountdown, hueOf, initials, newSessionId, parseSnapshot, revisionOf,
  secondsLeft, validIdentifier,
} from './party.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const RECONNECT_DELAY_MS = 2000;

const state = {
  config: {},
  client: null,         // the live mqtt.js client, or null
  sessionId: null,      // session of the current connection
  user: null,
  device: null,
  profile: null,        // the profile sent with the current connection
  party: null,          // the party this screen shows (and joins)
  joined: false,        // whether this device wants to be a member (republished on reconnect)
  airplane: false,
  revision: null,       // highest snapshot revision seen for the current party (BigInt)
  members: new Map(),   // user_id -> member JSON of the current snapshot
  reconnectTimer: null,
};

// ---- configuration ---------------------------------------------------------------------------

async function loadConfig() {
  try {
    const res = await fetch('demo-config.json', { cache: 'no-store' });
    if (res.ok) return await res.json();
  } catch {
    // No config file: anonymous development broker, same origin.
  }
  return {};
}

function wsUrl() {
  if (state.config.ws_url) return state.config.ws_url;
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/mqtt`;
}

function tokenFor(user) {
  return state.config.tokens?.[user];
}

function randomDeviceId() {
  return `web-${Math.random().toString(36).slice(2, 8)}`;
}

function initIdentity() {
  const cast = state.config.users ?? Object.keys(state.config.tokens ?? {});
  const list = $('cast');
  for (const u of cast) {
    const opt = document.createElement('option');
    opt.value = u;
    list.appendChild(opt);
  }
  // One device id per tab that survives a reload (sessionStorage is per tab).
  let device = params.get('device') || sessionStorage.getItem('presence.device');
  if (!device) device = randomDeviceId();
  sessionStorage.setItem('presence.device', device);
  const user = params.get('user') || sessionStorage.getItem('presence.user') ||
    (cast.length ? cast[Math.floor(Math.random() * cast.length)] : `guest${Math.floor(Math.random() * 1000)}`);
  $('user').value = user;
  $('device').value = device;
  // A remembered name belongs to the remembered user: a user from the URL starts from its own.
  const remembered = params.get('user') ? null : sessionStorage.getItem('presence.name');
  $('display-name').value = params.get('name') || remembered ||
    user.charAt(0).toUpperCase() + user.slice(1);
  $('party').value = params.get('party') || state.config.party || 'demo';
  $('avatar-url').value = params.get('avatar') || sessionStorage.getItem('presence.avatar') || '';
  if (state.config.development_only) {
    $('dev-note').hidden = false;
    $('dev-note').textContent = state.config.note ||
      'Development demo: this page was handed ready-made tokens for a fixed cast.';
  }
}

// ---- status and event log --------------------------------------------------------------------

function setStatus(kind, text) {
  const el = $('status');
  el.dataset.state = kind;
  el.textContent = text;
}

function logEvent(text, revision) {
  const li = document.createElement('li');
  li.textContent = text + ' ';
  if (revision !== undefined && revision !== null) {
    const rev = document.createElement('span');
    rev.className = 'rev';
    rev.textContent = `rev ${revision}`;
    li.appendChild(rev);
  }
  const list = $('events');
  list.prepend(li);
  while (list.children.length > 50) list.lastChild.remove();
}

function updateButtons() {
  const online = state.client !== null && state.client.connected;
  $('leave').disabled = !online || !state.joined;
  $('airplane').disabled = !state.client && !state.airplane;
  $('airplane').textContent = state.airplane ? 'Back online' : 'Airplane mode';
  $('airplane').classList.toggle('on', state.airplane);
  $('signout').disabled = !online;
  // The form stays editable: Join with another user or device switches this tab over.
  for (const id of ['user', 'device', 'display-name', 'avatar-url']) $(id).disabled = state.airplane;
  $('join').disabled = state.airplane;
}

// ---- the party screen ------------------------------------------------------------------------

function avatarElement(member) {
  const el = document.createElement('div');
  el.className = 'avatar pop-in';
  el.dataset.user = member.user_id;
  el.addEventListener('animationend', () => el.classList.remove('pop-in'), { once: true });
  const circle = document.createElement('div');
  circle.className = 'circle';
  const name = document.createElement('div');
  name.className = 'name';
  const detail = document.createElement('div');
  detail.className = 'detail';
  const countdown = document.createElement('div');
  countdown.className = 'countdown';
  circle.appendChild(countdown);
  el.append(circle, name, detail);
  return el;
}

function fillAvatar(el, member) {
  const profile = member.profile ?? {};
  const display = profile.display_name || member.user_id;
  const circle = el.querySelector('.circle');
  const countdown = el.querySelector('.countdown');
  const url = profile.avatar_url;
  // An image that fails to load (offline demo, bad URL) falls back to the initials.
  if (url && /^https?:\/\//.test(url) && el.dataset.brokenAvatar !== url) {
    let img = circle.querySelector('img');
    if (!img) {
      img = document.createElement('img');
      img.alt = '';
      img.addEventListener('error', () => {
        el.dataset.brokenAvatar = img.dataset.url;
        fillAvatar(el, state.members.get(el.dataset.user) ?? member);
      });
      circle.textContent = '';
      circle.append(img, countdown);
    }
    if (img.dataset.url !== url) {
      img.dataset.url = url;
      img.src = url;
    }
  } else {
    circle.querySelector('img')?.remove();
    const text = initials(display);
    if (circle.firstChild?.nodeType !== Node.TEXT_NODE) circle.prepend(document.createTextNode(text));
    else circle.firstChild.textContent = text;
  }
  circle.style.background = `hsl(${hueOf(member.user_id)} 55% 42%)`;
  el.querySelector('.name').textContent = display;
  el.title = `${member.user_id} — ${(member.devices ?? []).map((d) => d.device_id).join(', ')}`;
  const reconnecting = member.state === 'MEMBER_STATE_RECONNECTING';
  el.dataset.state = reconnecting ? 'reconnecting' : 'present';
  el.dataset.deadline = reconnecting ? member.reconnect_deadline ?? '' : '';
  el.classList.toggle('me', member.user_id === state.user);
  const devices = (member.devices ?? []).length;
  el.querySelector('.detail').textContent = reconnecting ? 'reconnecting…'
    : profile.status_text || (devices > 1 ? `${devices} devices` : '');
  tickCountdown(el);
}

function tickCountdown(el) {
  const left = secondsLeft(el.dataset.deadline, Date.now());
  el.querySelector('.countdown').textContent = left === null ? '' : formatCountdown(left);
}

function render() {
  const container = $('members');
  const seen = new Set();
  for (const member of state.members.values()) {
    seen.add(member.user_id);
    let el = container.querySelector(`.avatar[data-user="${CSS.escape(member.user_id)}"]:not(.leaving)`);
    if (!el) {
      el = avatarElement(member);
      container.appendChild(el);
    }
    fillAvatar(el, member);
  }
  for (const el of container.querySelectorAll('.avatar:not(.leaving)')) {
    if (seen.has(el.dataset.user)) continue;
    el.classList.add('leaving');
    el.classList.remove('pop-in');
    // Remove after the animation; the timer also covers tabs where animations do not run.
    const remove = () => el.remove();
    el.addEventListener('animationend', remove, { once: true });
    setTimeout(remove, 600);
  }
  $('empty').hidden = state.members.size > 0;
  $('revision').textContent = state.revision === null ? '' : `revision ${state.revision}`;
  $('party-title').textContent = state.party ?? '';
}

setInterval(() => {
  for (const el of document.querySelectorAll('.avatar[data-state="reconnecting"]')) tickCountdown(el);
}, 250);

function onSnapshot(text) {
  const snap = parseSnapshot(text);
  if (!snap) {
    logEvent('ignored a snapshot that is not valid JSON');
    return;
  }
  if (snap.cleared) {
    state.members = new Map();
  } else {
    // Keep the highest revision seen; an older snapshot (a late retained copy) is ignored.
    if (state.revision !== null && snap.revision < state.revision) return;
    state.revision = snap.revision;
    state.members = new Map(snap.members.map((m) => [m.user_id, m]));
  }
  render();
}

function onEvent(text) {
  let ev;
  try {
    ev = JSON.parse(text);
  } catch {
    return;
  }
  logEvent(describeEvent(ev), ev.revision);
}

// ---- the device connection -------------------------------------------------------------------

function partyTopics(party) {
  return [`party/${party}/members/json`, `party/${party}/events/json`];
}

// The identity and profile in the form, validated; null (with the reason shown) when invalid.
function formIdentity() {
  const user = $('user').value.trim();
  const device = $('device').value.trim();
  const party = $('party').value.trim();
  for (const [what, id] of [['user', user], ['device id', device], ['party', party]]) {
    if (!validIdentifier(id)) {
      setStatus('error', `${what} must be 1-64 characters of A-Z a-z 0-9 . _ -`);
      return null;
    }
  }
  if (state.config.tokens && !tokenFor(user)) {
    setStatus('error', `no demo token for "${user}"; pick one of: ${Object.keys(state.config.tokens).join(', ')}`);
    return null;
  }
  return { user, device, profile: formProfile() };
}

function formProfile() {
  const profile = { display_name: $('display-name').value.trim() || $('user').value.trim() };
  const avatar = $('avatar-url').value.trim();
  if (/^https?:\/\//.test(avatar)) profile.avatar_url = avatar;
  return profile;
}

// Takes the form's identity for the next connection; false when the form is invalid.
function readIdentity() {
  const id = formIdentity();
  if (!id) return false;
  state.user = id.user;
  state.device = id.device;
  state.profile = id.profile;
  sessionStorage.setItem('presence.user', id.user);
  sessionStorage.setItem('presence.name', $('display-name').value.trim());
  sessionStorage.setItem('presence.avatar', $('avatar-url').value.trim());
  return true;
}

function publishJson(topic, body) {
  state.client?.publish(topic, JSON.stringify(body), { qos: 1 });
}

function connect() {
  clearTimeout(state.reconnectTimer);
  const sessionId = newSessionId();
  const { user, device } = state;
  setStatus('connecting', `connecting as ${user}/${device}…`);
  const client = mqtt.connect(wsUrl(), {
    clientId: device,
    username: user,
    password: tokenFor(user),
    protocolVersion: 4,
    clean: true,
    keepalive: 30,
    reconnectPeriod: 0, // reconnects are ours: each connection needs a new session id and will
    connectTimeout: 10000,
    will: {
      topic: `presence/will/${user}/${device}`,
      payload: JSON.stringify({ session_id: sessionId }),
      qos: 1,
      retain: false,
    },
  });
  state.client = client;
  state.sessionId = sessionId;
  updateButtons();

  client.on('connect', () => {
    if (state.client !== client) return;
    publishJson(`presence/connect/${user}/${device}`, { session_id: sessionId, profile: state.profile });
    client.subscribe(partyTopics(state.party), { qos: 1 });
    // Joins are idempotent: republish after every reconnect (docs/protocol.md).
    if (state.joined) publishJson(`party/${state.party}/join/${user}/${device}`, { session_id: sessionId });
    setStatus('online', `online as ${user}/${device}`);
    updateButtons();
  });
  client.on('message', (topic, payload) => {
    if (state.client !== client) return;
    const text = new TextDecoder().decode(payload);
    const [members, events] = partyTopics(state.party);
    if (topic === members) onSnapshot(text);
    else if (topic === events) onEvent(text);
  });
  let refused = false;
  client.on('error', (err) => {
    if (state.client !== client) return;
    // CONNACK 4 (bad user name or password) / 5 (not authorized): retrying cannot help.
    refused = err.code === 4 || err.code === 5;
    setStatus('error', refused ? `the broker refused ${user}/${device}: ${err.message}`
      : `connection error: ${err.message}`);
  });
  client.on('close', () => {
    if (state.client !== client) return;
    state.client = null;
    if (state.airplane) return;
    if (refused) {
      updateButtons();
      return;
    }
    setStatus('connecting', `connection lost; reconnecting in ${RECONNECT_DELAY_MS / 1000} s`);
    state.reconnectTimer = setTimeout(connect, RECONNECT_DELAY_MS);
    updateButtons();
  });
}

function switchParty(party) {
  if (party === state.party) return;
  const old = state.party;
  state.party = party;
  state.revision = null;
  state.members = new Map();
  render();
  if (state.client?.connected) {
    if (old) state.client.unsubscribe(partyTopics(old));
    state.client.subscribe(partyTopics(party), { qos: 1 });
  }
}

function join() {
  const wanted = formIdentity();
  if (!wanted) return;
  // Another user or device in the form: this device signs out, and the tab connects as the new one.
  if (state.client && (wanted.user !== state.user || wanted.device !== state.device)) {
    signOut();
  } else if (state.client?.connected &&
             JSON.stringify(wanted.profile) !== JSON.stringify(state.profile)) {
    publishJson(`presence/profile/${state.user}/${state.device}`, wanted.profile);
  }
  if (!readIdentity()) return;
  const party = $('party').value.trim();
  if (state.joined && party !== state.party && state.client?.connected) {
    publishJson(`party/${state.party}/leave/${state.user}/${state.device}`, { session_id: state.sessionId });
  }
  switchParty(party);
  state.joined = true;
  if (!state.client) connect();
  else if (state.client.connected) {
    publishJson(`party/${party}/join/${state.user}/${state.device}`, { session_id: state.sessionId });
  }
  updateButtons();
}

function leave() {
  if (!state.client?.connected || !state.joined) return;
  publishJson(`party/${state.party}/leave/${state.user}/${state.device}`, { session_id: state.sessionId });
  state.joined = false;
  updateButtons();
}

function signOut() {
  const client = state.client;
  if (!client) return;
  publishJson(`presence/disconnect/${state.user}/${state.device}`, { session_id: state.sessionId });
  state.client = null;
  state.joined = false;
  client.end(false); // a clean DISCONNECT after the publish: no will
  setStatus('offline', 'signed out');
  updateButtons();
}

function toggleAirplane() {
  if (!state.airplane) {
    const client = state.client;
    state.airplane = true;
    state.client = null;
    clearTimeout(state.reconnectTimer);
    // Kill the socket without an MQTT DISCONNECT: the broker sees a lost connection and
    // publishes this device's Last Will, as when a phone drops off the network.
    client?.stream?.destroy();
    client?.end(true);
    setStatus('airplane', 'airplane mode: connection dropped without DISCONNECT');
    logEvent('you went into airplane mode');
  } else {
    state.airplane = false;
    connect();
  }
  updateButtons();
}

// ---- start -----------------------------------------------------------------------------------

async function main() {
  state.config = await loadConfig();
  initIdentity();
  $('join').addEventListener('click', join);
  $('leave').addEventListener('click', leave);
  $('airplane').addEventListener('click', toggleAirplane);
  $('signout').addEventListener('click', signOut);
  $('party').addEventListener('change', () => {
    const party = $('party').value.trim();
    if (validIdentifier(party) && !state.joined) switchParty(party);
  });
  state.party = $('party').value.trim();
  render();
  updateButtons();
  // Watch the party right away when the identity is known (the app is open = connected).
  if (readIdentity()) connect();
  if (params.get('autojoin') === '1') join();
  window.presence = state; // for the browser test and curious developers
}

main();
