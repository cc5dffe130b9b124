// Pure helpers of the party screen: no DOM, no MQTT, so they can be reasoned about (and tested)
// on their own.

// The controller prints 64-bit integers as JSON strings; compare revisions as BigInt.
export function revisionOf(value) {
  try {
    return BigInt(value ?? 0);
  } catch {
    return 0n;
  }
}

// Up to two letters for the avatar circle: "Alice Baker" -> "AB", "carol" -> "CA".
export function initials(name) {
  const words = String(name || '?').trim().split(/[\s._-]+/).filter(Boolean);
  if (words.length >= 2) return (words[0][0] + words[1][0]).toUpperCase();
  const word = words[0] || '?';
  return word.slice(0, 2).toUpperCase();
}

// A stable hue per user, so the same person has the same color on every screen.
export function hueOf(userId) {
  let h = 2166136261;
  for (const ch of String(userId)) {
    h ^= ch.codePointAt(0);
    h = Math.imul(h, 16777619);
  }
  return Math.abs(h) % 360;
}

// Seconds left until an RFC 3339 deadline, never negative; null when there is no deadline.
export function secondsLeft(deadline, nowMs) {
  if (!deadline) return null;
  const t = Date.parse(deadline);
  if (Number.isNaN(t)) return null;
  return Math.max(0, Math.ceil((t - nowMs) / 1000));
}

// "1:05" for 65 seconds.
export function formatCountdown(seconds) {
  if (seconds === null) return '';
  const m = Math.floor(seconds / 60);
  const s = String(seconds % 60).padStart(2, '0');
  return `${m}:${s}`;
}

// Identifiers of protocol v1: 1-64 characters of [A-Za-z0-9._-].
export function validIdentifier(id) {
  return typeof id === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(id);
}

// Parses a retained snapshot payload (PartyMembers JSON). An empty payload means the party was
// emptied and its retained messages cleared. Returns null for a payload that is not a snapshot.
export function parseSnapshot(text) {
  if (text.length === 0) return { members: [], revision: null, cleared: true };
  let doc;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (!doc || typeof doc !== 'object' || !Array.isArray(doc.members ?? [])) return null;
  return { members: doc.members ?? [], revision: revisionOf(doc.revision), cleared: false };
}

// A one-line, human description of a PartyEvent JSON.
export function describeEvent(ev) {
  const who = ev?.member?.profile?.display_name || ev?.member?.user_id || '?';
  switch (ev?.kind) {
    case 'EVENT_KIND_JOINED':
      return `${who} joined`;
    case 'EVENT_KIND_LEFT': {
      const reason = String(ev.reason || '').replace('LEAVE_REASON_', '').toLowerCase();
      return `${who} left (${reason.replace('_', ' ') || 'unknown'})`;
    }
    case 'EVENT_KIND_RECONNECTING':
      return `${who} lost the connection, reconnecting`;
    case 'EVENT_KIND_BACK':
      return `${who} is back`;
    case 'EVENT_KIND_UPDATED':
      return `${who} updated`;
    default:
      return `${who}: ${ev?.kind ?? 'unknown event'}`;
  }
}

// A fresh per-connection session id (protocol: unique per connection, at most 128 bytes).
export function newSessionId() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  return `s-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}
