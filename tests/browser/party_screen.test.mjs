// Browser test of the live party page: Debian's headless Chromium (driven by playwright-core from
// npm, never a downloaded browser) opens the page from Mosquitto's http_dir, and each tab talks MQTT
// over WebSockets to a real broker with the project's config and a real presence-controller.
// Scenario: two people join and see each other; one leaves and disappears; one goes silent
// (airplane mode: socket dropped without DISCONNECT, so the broker publishes the Last Will), is
// dimmed with a countdown, and is removed when the grace period runs out.
// Screenshots land in test-artifacts/browser/ (paths are printed).
//
// The broker runs mosquitto-conf/dev.conf: the presence plugin authenticates every connection
// with a JWT, so the page logs in with the demo tokens docker/presence-demo-init hands it.
//
// Environment (set by tests/browser/CMakeLists.txt): PRESENCE_SOURCE_DIR, PRESENCE_CONTROLLER_BIN,
// PRESENCE_WEB_DIR (the built page, scripts/build-web), PRESENCE_ARTIFACTS, CHROMIUM, PLUGIN_SO,
// TOKEN_BIN; PRESENCE_BROWSER_CONFIG (default dev) picks another shipped broker config.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startStack } from './stack.mjs';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run this test through ctest)`);
  return value;
};
const sourceDir = env('PRESENCE_SOURCE_DIR');
const requireWeb = createRequire(path.join(sourceDir, 'web', 'package.json'));
const { chromium } = requireWeb('playwright-core');
const mqtt = requireWeb('mqtt');

const artifacts = env('PRESENCE_ARTIFACTS');
const GRACE_S = 5;
// Generous: the machine is shared and noisy. These bound waits; they are not the assertions.
const WAIT = { timeout: 30000 };

let stack;
let browser;
const party = `browser${process.pid}`;

async function shot(page, name) {
  const file = path.join(artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot: ${file}`);
  return file;
}

async function openDevice(user, device, extra = '') {
  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  page.on('pageerror', (err) => console.log(`[${user}] page error: ${err.message}`));
  page.on('console', (msg) => {
    // demo-config.json is absent with the anonymous development broker: a 404 is expected.
    if (msg.type() === 'error' && !/status of 404/.test(msg.text())) console.log(`[${user}] console: ${msg.text()}`);
  });
  const url = `${stack.pageUrl}?user=${user}&device=${device}&party=${party}` +
    `&name=${user[0].toUpperCase()}${user.slice(1)}&autojoin=1${extra}`;
  await page.goto(url);
  await page.waitForSelector('#status[data-state="online"]', WAIT);
  return page;
}

const avatar = (user) => `.avatar[data-user="${user}"]:not(.leaving)`;

before(async () => {
  await mkdir(artifacts, { recursive: true });
  stack = await startStack({
    mqtt,
    sourceDir,
    controllerBin: env('PRESENCE_CONTROLLER_BIN'),
    webDir: env('PRESENCE_WEB_DIR'),
    grace: `${GRACE_S}s`,
    config: process.env.PRESENCE_BROWSER_CONFIG || 'dev',
    pluginSo: process.env.PLUGIN_SO,
    tokenBin: process.env.TOKEN_BIN,
    cast: 'alice bob carol',
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    // No --user-data-dir: launch() always starts Chromium on a fresh temporary profile of its own.
  });
});

after(async () => {
  await browser?.close();
  const failed = process.exitCode !== undefined && process.exitCode !== 0;
  await stack?.stop({ keep: failed });
  if (failed && stack) console.log(`kept broker and controller logs in ${stack.dir}`);
});

test('party screen in headless Chromium', async (t) => {
  let alice;
  let bob;
  let failed = false;
  // Steps share the two pages, so after a failure the rest are skipped (not failed again), and
  // both screens are captured for the report.
  const step = (name, fn) => t.test(name, { skip: failed && 'an earlier step failed' }, async () => {
    try {
      await fn();
    } catch (err) {
      failed = true;
      for (const [who, page] of [['alice', alice], ['bob', bob]]) {
        if (page) await shot(page, `failed-${who}`).catch(() => {});
      }
      throw err;
    }
  });

  await step('two people join and each sees the other', async () => {
    // Alice's avatar URL points nowhere: every screen falls back to her initials.
    alice = await openDevice('alice', 'alice-tab', '&avatar=http://127.0.0.1:9/alice.png');
    bob = await openDevice('bob', 'bob-tab');
    await alice.waitForSelector(avatar('bob'), WAIT);
    await bob.waitForSelector(avatar('alice'), WAIT);
    await alice.waitForSelector(avatar('alice'), WAIT);
    assert.equal(await alice.textContent(`${avatar('bob')} .name`), 'Bob');
    assert.equal(await alice.getAttribute(avatar('bob'), 'data-state'), 'present');
    assert.equal((await alice.textContent(`${avatar('bob')} .circle`)).trim(), 'BO');
    assert.equal(await bob.evaluate(() => window.presence.members.get('alice').profile.avatarUrl),
      'http://127.0.0.1:9/alice.png');
    await bob.waitForFunction((sel) => {
      const circle = document.querySelector(sel);
      return circle && !circle.querySelector('img') && circle.textContent.trim() === 'AL';
    }, `${avatar('alice')} .circle`, WAIT);
    await alice.waitForFunction(() => !document.querySelector('.avatar.pop-in'), null, WAIT);
    await shot(alice, '1-alice-sees-bob');
    await shot(bob, '1-bob-sees-alice');
  });

  await step('one leaves and the avatar goes', async () => {
    await bob.click('#leave');
    await alice.waitForSelector('.avatar[data-user="bob"]', { state: 'detached', ...WAIT });
    await alice.waitForSelector(avatar('alice'), WAIT);
    // Bob's own screen, still connected and watching, no longer lists him either.
    await bob.waitForSelector('.avatar[data-user="bob"]', { state: 'detached', ...WAIT });
    await alice.waitForFunction(() => document.querySelector('#events').textContent.includes('Bob left (explicit)'), null, WAIT);
    await shot(alice, '2-bob-left');
  });

  await step('one goes silent: dimmed with a countdown, then gone after the grace period', async () => {
    await bob.click('#join');
    await alice.waitForSelector(avatar('bob'), WAIT);
    await bob.click('#airplane');
    await bob.waitForSelector('#status[data-state="airplane"]', WAIT);
    await alice.waitForSelector(`${avatar('bob')}[data-state="reconnecting"]`, WAIT);
    const countdown = await alice.textContent(`${avatar('bob')} .countdown`);
    assert.match(countdown, /^0:0[0-5]$/, `countdown shows the seconds left of a ${GRACE_S} s grace`);
    // Dimmed: the circle fades (a CSS transition) to a low opacity while reconnecting.
    await alice.waitForFunction((sel) => {
      const circle = document.querySelector(sel);
      return circle && Number(getComputedStyle(circle).opacity) < 0.6;
    }, `${avatar('bob')}[data-state="reconnecting"] .circle`, WAIT);
    await shot(alice, '3-bob-reconnecting');
    await alice.waitForSelector('.avatar[data-user="bob"]', { state: 'detached', ...WAIT });
    await alice.waitForFunction(() => document.querySelector('#events').textContent.includes('Bob left (timeout)'), null, WAIT);
    assert.equal(await alice.getAttribute(avatar('alice'), 'data-state'), 'present');
    await shot(alice, '4-bob-timed-out');
  });

  await step('the broker refuses a wrong token; the page says so and stops retrying', async () => {
    if (!stack.withPlugin) return;
    const page = await browser.newPage();
    // The page's demo config, with carol's token replaced by one signed with another key.
    await page.route('**/demo-config.json', async (route) => {
      const res = await route.fetch();
      const config = await res.json();
      config.tokens.carol = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYXJvbCIsImV4cCI6NDEwMjQ0NDgwMH0.' +
        'c2lnbmVkLXdpdGgtYW5vdGhlci1rZXk';
      await route.fulfill({ response: res, json: config });
    });
    await page.goto(`${stack.pageUrl}?user=carol&device=carol-tab&party=${party}&autojoin=1`);
    await page.waitForSelector('#status[data-state="error"]', WAIT);
    assert.match(await page.textContent('#status'), /refused carol\/carol-tab/);
    assert.equal(await alice.$(avatar('carol')), null);
    // A user outside the demo cast has no token at all: refused by the page before connecting.
    await page.goto(`${stack.pageUrl}?user=mallory&party=${party}`);
    await page.waitForSelector('#status[data-state="error"]', WAIT);
    assert.match(await page.textContent('#status'), /no demo token for "mallory"/);
    await shot(page, '6-wrong-token-refused');
    await page.close();
  });

  await step('back online after airplane mode: the app joins its party again', async () => {
    await bob.click('#airplane');
    await bob.waitForSelector('#status[data-state="online"]', WAIT);
    // Like a real app, the page republishes its joins after every reconnect (docs/protocol.md).
    await alice.waitForSelector(`${avatar('bob')}[data-state="present"]`, WAIT);
    await bob.waitForSelector(`${avatar('bob')}.me`, WAIT);
    // A new display name in the form, then Join: a profile update every screen shows.
    await bob.fill('#display-name', 'Bobby B');
    await bob.click('#join');
    await alice.waitForFunction((sel) => document.querySelector(sel)?.textContent === 'Bobby B',
      `${avatar('bob')} .name`, WAIT);
    assert.equal((await alice.textContent(`${avatar('bob')} .circle`)).trim(), 'BB');
    await shot(bob, '5-bob-back');
  });
});
