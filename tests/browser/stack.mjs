// A real stack for the browser tests: mosquitto with the project's config plus a websockets
// listener that serves the built page (http_dir), and a real presence-controller; free loopback
// ports, a temp dir, and a stop() that ends both processes. The SDK's tests (clients/js/test) use it
// too: without a webDir the websockets listener serves an empty page, and killController() /
// startController() let a test kill -9 and restart the controller.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, mkdir, readFile, writeFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

// Runs a program to completion with extra environment; rejects with its output on failure.
function run(file, extraEnv) {
  return new Promise((resolve, reject) => {
    execFile(file, [], { env: { ...process.env, ...extraEnv } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} failed: ${err.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function portAccepts(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => resolve(false));
  });
}

async function waitFor(what, check, timeoutMs, proc) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (proc && proc.exitCode !== null) throw new Error(`${what}: process exited with ${proc.exitCode}`);
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Rewrites a shipped broker config for a test: the MQTT listener on `port` (loopback), the
// persistence folder in the temp dir, and a websockets listener on `wsPort` serving `httpDir`.
// Debian's Mosquitto 2.0.11 refuses to start with a websockets listener alone ("Unable to start any
// listening sockets"), so the plain MQTT listener stays first.
// With the plugin, its path becomes `pluginSo` and a relative key path is resolved from `sourceDir`.
export function rewriteConfig(text, { port, wsPort, httpDir, persistenceDir, pluginSo, sourceDir }) {
  const out = [];
  let lastListener = -1;
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    const word = words[0];
    if (line.trim().startsWith('#')) { out.push(line); continue; }
    // A websockets listener of the shipped config (and its http_dir) is replaced by the test's
    // own below.
    if (word === 'protocol' && words[1] === 'websockets') {
      if (lastListener >= 0) out.splice(lastListener, 1);
      lastListener = -1;
      continue;
    }
    if (word === 'listener') {
      lastListener = out.length;
      out.push(`listener ${port} 127.0.0.1`);
    }
    else if (word === 'plugin') {
      if (!pluginSo) throw new Error('the config loads a plugin but no plugin path was given');
      out.push(`plugin ${pluginSo}`);
    } else if (word === 'plugin_opt_jwt_key_file') {
      out.push(`plugin_opt_jwt_key_file ${path.resolve(sourceDir, words[1])}`);
    }
    else if (word === 'persistence_location') out.push(`persistence_location ${persistenceDir}/`);
    else if (word === 'user' || (word === 'log_dest' && line.includes('file'))) continue;
    else if (word === 'http_dir') continue;
    else out.push(line);
  }
  out.push(`listener ${wsPort} 127.0.0.1`, 'protocol websockets', `http_dir ${httpDir}`);
  if (process.getuid && process.getuid() === 0) out.push('user root');
  return out.join('\n') + '\n';
}

// Resolves once the controller's retained status says online (it publishes it after restoring).
async function waitForControllerOnline(mqtt, port, proc, timeoutMs, auth) {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    reconnectPeriod: 200, clientId: `probe-${process.pid}`, ...auth,
  });
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`presence-controller: not online after ${timeoutMs} ms`)), timeoutMs);
      proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`presence-controller exited with ${code}`)); });
      client.on('connect', () => client.subscribe('presence/controller/status'));
      client.on('message', (_topic, payload) => {
        if (payload.toString() === 'online') { clearTimeout(timer); resolve(); }
      });
    });
  } finally {
    client.end(true);
  }
}

// With a config that loads the plugin, docker/presence-demo-init (the same script scripts/run and
// docker-compose use) mints the controller's token and the page's demo tokens with the config's
// development key, and the page is served from a copy with that demo-config.json.
export async function startStack({ mqtt, sourceDir, controllerBin, webDir, grace = '5s',
  config = 'dev', pluginSo, tokenBin, cast = 'alice bob carol', party = 'demo', controllerArgs = [] }) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'presence-browser-'));
  if (!webDir) {
    webDir = path.join(dir, 'empty-page');
    await mkdir(webDir);
    await writeFile(path.join(webDir, 'index.html'), '<!doctype html><title>presence</title>\n');
  }
  const persistenceDir = path.join(dir, 'persistence');
  await mkdir(persistenceDir);
  const port = await freePort();
  const wsPort = await freePort();
  const confText = await readFile(path.join(sourceDir, 'mosquitto-conf', `${config}.conf`), 'utf8');
  const withPlugin = /^plugin\s/m.test(confText);
  let httpDir = webDir;
  let controllerAuth = [];
  let probeAuth = {};
  let keyFile = null;
  if (withPlugin) {
    const keyLine = confText.match(/^plugin_opt_jwt_key_file\s+(\S+)/m);
    if (!keyLine) throw new Error(`${config}.conf loads the plugin but names no key file`);
    const tokens = path.join(dir, 'tokens');
    keyFile = path.resolve(sourceDir, keyLine[1]);
    httpDir = path.join(dir, 'web');
    await run(path.join(sourceDir, 'docker', 'presence-demo-init'), {
      KEY_FILE: path.resolve(sourceDir, keyLine[1]), TOKENS_DIR: tokens, WEB_DIR: httpDir,
      PAGE_DIR: webDir, PRESENCE_TOKEN: tokenBin, DEMO_CAST: cast, DEMO_PARTY: party,
    });
    controllerAuth = ['--username', 'presence-controller', '--password-file', path.join(tokens, 'controller.jwt')];
    probeAuth = { username: 'healthcheck', password: (await readFile(path.join(tokens, 'healthcheck.jwt'), 'utf8')).trim() };
  }
  const conf = path.join(dir, 'mosquitto.conf');
  await writeFile(conf, rewriteConfig(confText, { port, wsPort, httpDir, persistenceDir, pluginSo, sourceDir }));
  const procs = [];
  const logs = { broker: path.join(dir, 'mosquitto.log'), controller: path.join(dir, 'controller.log') };
  const launch = async (argv, log) => {
    const { open } = await import('node:fs/promises');
    const fh = await open(log, 'a');
    const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fh.fd, fh.fd] });
    proc.on('exit', () => fh.close().catch(() => {}));
    procs.push(proc);
    return proc;
  };
  const stop = async ({ keep = false } = {}) => {
    for (const proc of procs.reverse()) {
      if (proc.exitCode !== null || proc.signalCode !== null) continue;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    if (!keep) await rm(dir, { recursive: true, force: true });
  };
  let controller = null;
  const startController = async () => {
    controller = await launch([controllerBin, '--broker', `tcp://127.0.0.1:${port}`,
      ...controllerAuth, '--grace', grace, '--log-level', 'debug', '--http-listen', 'off',
      ...controllerArgs], logs.controller);
    await waitForControllerOnline(mqtt, port, controller, 30000, probeAuth);
  };
  // kill -9 (or another signal) of the running controller; resolves once it has exited.
  const killController = async (signal = 'SIGKILL') => {
    if (!controller || controller.exitCode !== null || controller.signalCode !== null) return;
    const exited = new Promise((r) => controller.once('exit', r));
    controller.kill(signal);
    await exited;
  };
  try {
    const broker = await launch(['/usr/sbin/mosquitto', '-c', conf], logs.broker);
    await waitFor('mosquitto', async () => (await portAccepts(port)) && (await portAccepts(wsPort)), 20000, broker);
    await startController();
  } catch (err) {
    const tail = async (f) => (await readFile(f, 'utf8').catch(() => '')).split('\n').slice(-20).join('\n');
    await stop({ keep: true });
    throw new Error(`${err.message}\nbroker log:\n${await tail(logs.broker)}\ncontroller log:\n${await tail(logs.controller)}`);
  }
  return { dir, port, wsPort, logs, stop, withPlugin, keyFile, startController, killController,
    pageUrl: `http://127.0.0.1:${wsPort}/index.html` };
}
