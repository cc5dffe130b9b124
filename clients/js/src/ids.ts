// Identifiers and per-connection session ids of protocol v1 (docs/protocol.md).

const IDENTIFIER = /^[A-Za-z0-9._-]{1,64}$/;

/** True for a valid user, device or party id: 1-64 characters of [A-Za-z0-9._-]. */
export function isValidId(id: unknown): id is string {
  return typeof id === 'string' && IDENTIFIER.test(id);
}

/** Throws a TypeError naming the field, because a bad id would be refused by the controller. */
export function checkId(what: string, id: unknown): string {
  if (!isValidId(id)) {
    throw new TypeError(`${what} must be 1-64 characters of A-Z a-z 0-9 . _ - (got ${JSON.stringify(id)})`);
  }
  return id;
}

/** A fresh session id for one connection; the protocol wants a unique string of <= 128 bytes. */
export function newSessionId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  return `s-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}
