// Reading a token's expiry, so the SDK can reconnect with a fresh token before the broker's plugin
// kicks the connection (it does so when `exp` passes). The token is not verified here: only the
// broker can, and does.

/** Seconds since 1970 of a JWT's `exp` and `iat` claims, or null when the token is not a JWT. */
export function tokenTimes(token: string): { exp: number; iat: number | null } | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
    const json = typeof atob === 'function'
      ? atob(padded)
      : String.fromCharCode(...(globalThis as unknown as { Buffer: { from(s: string, e: string): Uint8Array } })
        .Buffer.from(padded, 'base64'));
    const claims = JSON.parse(json) as { exp?: unknown; iat?: unknown };
    if (typeof claims.exp !== 'number') return null;
    return { exp: claims.exp, iat: typeof claims.iat === 'number' ? claims.iat : null };
  } catch {
    return null;
  }
}

/**
 * When to refresh a token that expires at `exp` (seconds), as a delay in ms from `nowMs`: a quarter
 * of its lifetime ahead of expiry, at most `maxMarginMs` and at least 500 ms, so short test tokens
 * and day-long tokens both refresh in time.
 */
export function refreshDelayMs(exp: number, iat: number | null, nowMs: number, maxMarginMs: number): number {
  const expMs = exp * 1000;
  const lifetime = Math.max(0, expMs - (iat !== null ? iat * 1000 : nowMs));
  const margin = Math.max(500, Math.min(maxMarginMs, lifetime / 4));
  return Math.max(0, expMs - margin - nowMs);
}
