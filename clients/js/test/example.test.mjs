// The example app (clients/js/example), installed from the packed tarball exactly as an app
// developer would (`npm install <tarball>`), joins a party on a real stack and prints live member
// changes while another device joins and leaves.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as mqtt from 'mqtt';
import { connectPresence } from '../dist/index.js';
import { startStack } from '../../../tests/browser/stack.mjs';
import { missingTools, sourceDir, token, waitUntil } from './helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const tarballDir = process.env.PRESENCE_SDK_TARBALL_DIR;
const missing = missingTools() ?? (tarballDir ? null : 'PRESENCE_SDK_TARBALL_DIR not set (run through ctest)');
let stack;
let app;
let dir;

before(async () => {
  if (missing) return;
  stack = await startStack({
    mqtt, sourceDir, controllerBin: process.env.PRESENCE_CONTROLLER_BIN,
    pluginSo: process.env.PLUGIN_SO, tokenBin: process.env.TOKEN_BIN,
  });
});

after(async () => {
  app?.kill('SIGKILL');
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the example, installed from the tarball, prints live member changes', { skip: missing ?? false }, async () => {
  const tarball = readdirSync(tarballDir).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, `a packed tarball in ${tarballDir}`);
  dir = mkdtempSync(path.join(os.tmpdir(), 'sdk-example-'));
  cpSync(path.join(here, '..', 'example'), dir, { recursive: true });
  execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--loglevel=error', path.join(tarballDir, tarball)],
    { cwd: dir, stdio: 'inherit' });
  writeFileSync(path.join(dir, 'alice.token'), token(stack.keyFile, 'alice'));
  app = spawn(process.execPath, ['index.mjs', '--url', `mqtt://127.0.0.1:${stack.port}`, '--user', 'alice',
    '--party', 'example', '--token-file', 'alice.token'], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  app.stdout.on('data', (d) => { out += d; process.stdout.write(`[example] ${d}`); });
  await waitUntil('the example joined', () => out.includes('joined example'));
  const bob = await connectPresence({
    url: `mqtt://127.0.0.1:${stack.port}`, userId: 'bob', deviceId: 'bob-phone',
    token: token(stack.keyFile, 'bob'), profile: { displayName: 'Bob' },
  });
  try {
    await bob.party('example').join();
    await waitUntil('the example printed bob joining', () => out.includes('Bob (bob-phone) joined'));
    await bob.party('example').leave();
    await waitUntil('the example printed bob leaving', () => out.includes('bob left (explicit)'));
  } finally {
    await bob.close();
  }
  app.kill('SIGTERM');
  await new Promise((r) => app.once('exit', r));
});
