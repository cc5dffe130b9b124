// When the SDK refreshes a token: a quarter of its lifetime before `exp`, at most the margin, at
// least 500 ms; and reading `exp`/`iat` from a JWT without trusting it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { refreshDelayMs, tokenTimes } from '../dist/index.js';

const jwt = (claims) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

test('exp and iat are read from a JWT; anything else has no expiry', () => {
  assert.deepEqual(tokenTimes(jwt({ exp: 2000, iat: 1000, sub: 'a' })), { exp: 2000, iat: 1000 });
  assert.deepEqual(tokenTimes(jwt({ exp: 2000 })), { exp: 2000, iat: null });
  assert.equal(tokenTimes(jwt({ sub: 'a' })), null);
  assert.equal(tokenTimes('opaque-token'), null);
  assert.equal(tokenTimes('a.%%%.c'), null);
});

test('refresh a quarter of the lifetime ahead, capped by the margin, never after exp', () => {
  const now = 1000_000;
  // A 6 s token: 1.5 s ahead of exp.
  assert.equal(refreshDelayMs(1006, 1000, now, 60000), 4500);
  // A day-long token: the 60 s margin.
  assert.equal(refreshDelayMs(1000 + 86400, 1000, now, 60000), 86400_000 - 60000);
  // Already expired: at once.
  assert.equal(refreshDelayMs(990, 900, now, 60000), 0);
  // No iat: the lifetime is counted from now.
  assert.equal(refreshDelayMs(1004, null, now, 60000), 3000);
});
