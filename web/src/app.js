// The party screen: one browser tab is one device of one user. All of the protocol (identity,
// Last Will, session ids, snapshots and revisions, re-joins after a reconnect, token refusals) is
// the SDK's (clients/js, @mqtt-presence/client); this file only renders what the SDK reports and
// turns buttons into SDK calls. "Airplane mode" is the SDK's goOffline(): the socket drops without
// an MQTT DISCONNECT, so the broker publishes the Last Will, as when a phone loses the network.
import { createPresence, isValidId } from '@mqtt-presence/client';
import { describeEvent, formatCountdown, hueOf, initials, secondsLeft } from './party.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

const state = {
  config: {},
  presence: null,       // the SDK connection of this tab's device, or null
  partyHandle: null,    // the SDK party this screen shows
  offListeners: [],     // removes the listeners on partyHandle
  user: null,
  device: null,
  profile: null,        // the profile sent with the current connection
  party: null,          // the party this screen shows (and joins)
  joined: false,        // whether this device wants to be a member (the SDK re-asserts it)
  airplane: false,
  get members() {       // user_id -> member of the current list (for the browser test)
    return new Map((this.partyHandle?.members ?? []).map((m) => [m.userId, m]));
  },
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
  const online = state.presence?.online ?? false;
  $('leave').disabled = !online || !state.joined;
  $('airplane').disabled = !state.presence && !state.airplane;
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
  el.dataset.user = member.userId;
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
  const profile = member.profile;
  const display = profile.displayName || member.userId;
  const circle = el.querySelector('.circle');
  const countdown = el.querySelector('.countdown');
  const url = profile.avatarUrl;
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
  circle.style.background = `hsl(${hueOf(member.userId)} 55% 42%)`;
  el.querySelector('.name').textContent = display;
  el.title = `${member.userId} — ${member.devices.map((d) => d.deviceId).join(', ')}`;
  const reconnecting = member.state === 'reconnecting';
  el.dataset.state = member.state;
  el.dataset.deadline = reconnecting ? member.reconnectDeadline?.toISOString() ?? '' : '';
  el.classList.toggle('me', member.userId === state.user);
  const devices = member.devices.length;
  el.querySelector('.detail').textContent = reconnecting ? 'reconnecting…'
    : profile.statusText || (devices > 1 ? `${devices} devices` : '');
  tickCountdown(el);
}

function tickCountdown(el) {
  const left = secondsLeft(el.dataset.deadline, Date.now());
  el.querySelector('.countdown').textContent = left === null ? '' : formatCountdown(left);
}

function render() {
  const container = $('members');
  const seen = new Set();
  const members = state.partyHandle?.members ?? [];
  for (const member of members) {
    seen.add(member.userId);
    let el = container.querySelector(`.avatar[data-user="${CSS.escape(member.userId)}"]:not(.leaving)`);
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
  $('empty').hidden = members.length > 0;
  const revision = state.partyHandle?.revision ?? null;
  $('revision').textContent = revision === null ? '' : `revision ${revision}`;
  $('party-title').textContent = state.party ?? '';
}

setInterval(() => {
  for (const el of document.querySelectorAll('.avatar[data-state="reconnecting"]')) tickCountdown(el);
}, 250);

// ---- the device, through the SDK ----------------------------------------------------------

// The identity and profile in the form, validated; null (with the reason shown) when invalid.
function formIdentity() {
  const user = $('user').value.trim();
  const device = $('device').value.trim();
  const party = $('party').value.trim();
  for (const [what, id] of [['user', user], ['device id', device], ['party', party]]) {
    if (!isValidId(id)) {
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
  const profile = { displayName: $('display-name').value.trim() || $('user').value.trim() };
  const avatar = $('avatar-url').value.trim();
  if (/^https?:\/\//.test(avatar)) profile.avatarUrl = avatar;
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

function onConnectionState(s) {
  const { user, device } = state;
  if (s.status === 'online') setStatus('online', `online as ${user}/${device}`);
  else if (s.status === 'refused') setStatus('error', `the broker refused ${user}/${device}: ${s.reason}`);
  else if (state.airplane) setStatus('airplane', 'airplane mode: connection dropped without DISCONNECT');
  else if (s.status === 'reconnecting') {
    const wait = s.retryAt ? ` in ${Math.max(0, Math.round((s.retryAt - Date.now()) / 1000))} s` : '';
    setStatus('connecting', `connection lost; reconnecting${wait}`);
  } else if (s.status === 'connecting') setStatus('connecting', `connecting as ${user}/${device}…`);
  else if (s.status === 'closed') setStatus('offline', 'signed out');
  updateButtons();
}

function connect() {
  const presence = createPresence({
    url: wsUrl(),
    userId: state.user,
    deviceId: state.device,
    token: tokenFor(state.user),
    profile: state.profile,
    reconnect: { minDelayMs: 1000, maxDelayMs: 10000 },
  });
  state.presence = presence;
  presence.on('state', (s) => {
    if (state.presence === presence) onConnectionState(s);
  });
  onConnectionState(presence.state);
  watchParty(state.party);
}

function watchParty(party) {
  for (const off of state.offListeners) off();
  state.partyHandle?.close();
  state.party = party;
  state.partyHandle = state.presence ? state.presence.party(party) : null;
  const p = state.partyHandle;
  state.offListeners = p ? [
    p.on('change', render),
    p.on('sync', render),
    p.on('event', (ev) => logEvent(describeEvent(ev), ev.revision)),
  ] : [];
  render();
}

function join() {
  const wanted = formIdentity();
  if (!wanted) return;
  // Another user or device in the form: this device signs out, and the tab connects as the new one.
  if (state.presence && (wanted.user !== state.user || wanted.device !== state.device)) {
    signOut();
  } else if (state.presence?.online && JSON.stringify(wanted.profile) !== JSON.stringify(state.profile)) {
    state.presence.setProfile({ statusText: '', avatarUrl: '', ...wanted.profile }).catch(() => {});
  }
  if (!readIdentity()) return;
  const party = $('party').value.trim();
  if (!state.presence) connect();
  if (party !== state.party || !state.partyHandle) {
    if (state.joined) state.partyHandle?.leave().catch(() => {});
    watchParty(party);
  }
  state.joined = true;
  state.partyHandle.join().catch(() => {}); // the SDK keeps trying; the list shows the outcome
  updateButtons();
}

function leave() {
  if (!state.joined) return;
  state.partyHandle?.leave().catch(() => {});
  state.joined = false;
  updateButtons();
}

function signOut() {
  const presence = state.presence;
  if (!presence) return;
  for (const off of state.offListeners) off();
  state.offListeners = [];
  state.presence = null;
  state.partyHandle = null;
  state.joined = false;
  presence.signOut(); // presence/disconnect, then a clean DISCONNECT: no will
  setStatus('offline', 'signed out');
  render();
  updateButtons();
}

function toggleAirplane() {
  if (!state.presence) return;
  state.airplane = !state.airplane;
  if (state.airplane) {
    state.presence.goOffline();
    logEvent('you went into airplane mode');
  } else {
    state.presence.goOnline(); // a new connection; the SDK joins the party again by itself
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
    if (isValidId(party) && !state.joined && party !== state.party) watchParty(party);
  });
  state.party = $('party').value.trim();
  render();
  updateButtons();
  // Watch the party right away when the identity is known (the app is open = connected).
  if (readIdentity()) connect();
  if (params.get('autojoin') === '1') join();
  window.presence = state; // for the browser test and curious developers (state.presence is the SDK)
}

main();
