// Pure helpers of the party screen: no DOM, no MQTT and no protocol (the SDK, clients/js, does
// that), so they can be reasoned about (and tested) on their own.

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

// A one-line, human description of a controller event as the SDK reports it (party.on('event')).
export function describeEvent(ev) {
  const who = ev?.member?.profile?.displayName || ev?.member?.userId || '?';
  switch (ev?.kind) {
    case 'joined':
      return `${who} joined`;
    case 'left':
      return `${who} left (${String(ev.reason || 'unknown').replace('_', ' ')})`;
    case 'reconnecting':
      return `${who} lost the connection, reconnecting`;
    case 'back':
      return `${who} is back`;
    case 'updated':
      return `${who} updated`;
    default:
      return `${who}: ${ev?.kind ?? 'unknown event'}`;
  }
}
