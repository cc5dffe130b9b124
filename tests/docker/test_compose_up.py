#!/usr/bin/python3
"""The docker-compose demo, run for real: images built, containers started, checked from the host.

What it does, in order (every step is a check that can fail):
 1. a fresh JWT key (48 random bytes, base64, as in the README) in a private temp dir, handed to
    compose as the secret file; a distinct project name and free loopback host ports, so it
    cannot collide with another test or a demo the user runs;
 2. `docker-compose up --build -d`; `init` exits 0, `broker` and `controller` become healthy
    (their own healthchecks), `simulate` runs;
 3. from the host, through the published ports only: the page and its demo-config.json are
    served on the websockets port; /healthz and /metrics answer; a device (paho-mqtt, with a
    token minted from the same key by the tools image's presence-token) connects with a Last
    Will, joins a party, and a second client subscribed to the party's snapshot sees it; the
    `simulate` service's devices are the members of party `demo` (those its log says joined:
    with --churn they leave and rejoin);
 4. `docker-compose restart broker`: the broker comes back healthy, the retained snapshot is on
    the named volume, the device reconnects and is still a member, the controller reconnects;
 5. `docker-compose kill controller`: while it is down a second device joins and the first
    leaves; `docker-compose start controller`: it restores, drains its persistent session's
    queue, and the party is exactly the second device (nobody is a ghost). Killed again, a third
    device joins and the broker restarts before the controller starts: it still sees the join
    (the queue came back from the persistence file). Then a SIGKILL of the
    controller's process (a crash): the restart policy restarts it, the party is unchanged, and
    `demo` holds exactly the devices `simulate`'s own log says are joined;
 6. `docker-compose down -v` removes the containers, the network and the volumes.

Environment: PRESENCE_SOURCE_DIR (the checkout), DOCKER (the engine's client, /usr/bin/docker),
COMPOSE (docker-compose), COMPOSE_PROJECT (presence-composetest-<pid>), KEEP_STACK=1 leaves the stack
up after a failure for a look, COMPOSE_LOG (${TMPDIR:-/tmp}/<project>.log) is where a failed run
writes the services' complete logs.
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import paho.mqtt.client as mqtt
import yaml

SRC = os.environ.get("PRESENCE_SOURCE_DIR") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
DOCKER = os.environ.get("DOCKER", "/usr/bin/docker")
COMPOSE = os.environ.get("COMPOSE", "docker-compose")
# Its own project per run: two runs on one engine (or a demo the user runs) never meet.
PROJECT = os.environ.get("COMPOSE_PROJECT", f"presence-composetest-{os.getpid()}")
PARTY = "composetest"  # the test's own party; `demo` belongs to the simulate service

failures = []


def check(cond, what):
    print(f"{'ok   ' if cond else 'FAIL '} {what}", flush=True)
    if not cond:
        failures.append(what)
    return cond


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.25)
    print(f"      {what}: not within {timeout} s", flush=True)
    return False


class stack:
    """docker-compose for this test's project, ports and key."""

    def __init__(self, tmp):
        self.ports = {"mqtt": free_port(), "web": free_port(), "http": free_port()}
        self.key_file = os.path.join(tmp, "jwt.key")
        with open(os.open(self.key_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(base64.b64encode(os.urandom(48)).decode())
        # The compose CLI build shells out to `docker build`: make that the engine's own client.
        bindir = os.path.join(tmp, "bin")
        os.makedirs(bindir)
        os.symlink(DOCKER, os.path.join(bindir, "docker"))
        self.env = dict(os.environ, COMPOSE_PROJECT_NAME=PROJECT,
                        PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
                        DOCKER_BUILDKIT="1", COMPOSE_DOCKER_CLI_BUILD="1",
                        PRESENCE_MQTT_PORT=str(self.ports["mqtt"]),
                        PRESENCE_WEB_PORT=str(self.ports["web"]),
                        PRESENCE_HTTP_PORT=str(self.ports["http"]),
                        PRESENCE_JWT_KEY_FILE=self.key_file)

    def compose(self, *args, check_rc=True, quiet=False, timeout=1800):
        argv = [COMPOSE, "-f", os.path.join(SRC, "docker-compose.yml"), "-p", PROJECT, *args]
        r = subprocess.run(argv, cwd=SRC, env=self.env, text=True, timeout=timeout,
                           stdout=subprocess.PIPE if quiet else None,
                           stderr=subprocess.STDOUT if quiet else None)
        if check_rc and r.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited with {r.returncode}: {r.stdout or ''}")
        return r

    def container(self, service):
        r = self.compose("ps", "-q", service, quiet=True, check_rc=False)
        ids = r.stdout.split()
        return ids[0] if ids else None

    def state(self, service):
        cid = self.container(service)
        if not cid:
            return {}
        r = subprocess.run([DOCKER, "inspect", cid], capture_output=True, text=True)
        return json.loads(r.stdout)[0]["State"] if r.returncode == 0 else {}

    def healthy(self, service):
        return self.state(service).get("Health", {}).get("Status") == "healthy"

    def mint(self, user):
        """A token from the stack's own key, by the tools image, in a container with no network."""
        r = subprocess.run([DOCKER, "run", "--rm", "--network", "none",
                            "-v", f"{self.key_file}:/key:ro", "mqtt-presence/tools",
                            "presence-token", "--key-file", "/key", "--sub", user, "--ttl", "3600"],
                           capture_output=True, text=True, check=True)
        return r.stdout.strip()

    def logs(self):
        """The last lines of every service here, and all of them in a file that outlives the run
        (a broker restart's window is usually well before the last 40 lines)."""
        self.compose("logs", "--no-color", "--tail", "40", check_rc=False)
        path = os.environ.get("COMPOSE_LOG") or os.path.join(tempfile.gettempdir(), f"{PROJECT}.log")
        with open(path, "w") as f:
            subprocess.run([COMPOSE, "-f", os.path.join(SRC, "docker-compose.yml"), "-p", PROJECT,
                            "logs", "--no-color"], cwd=SRC, env=self.env, stdout=f,
                           stderr=subprocess.STDOUT, timeout=120)
        print(f"      the services' complete logs: {path}", flush=True)


class snapshots:
    """A subscriber to party snapshots (JSON twins), as an app's other user would be."""

    def __init__(self, port, user, token):
        self.latest = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(client_id=f"{user}-watch", clean_session=True)
        self.client.username_pw_set(user, token)
        self.client.on_connect = lambda c, u, f, rc: c.subscribe("party/+/members/json", qos=1)
        self.client.on_message = self.on_message
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()

    def on_message(self, client, userdata, msg):
        party = msg.topic.split("/")[1]
        members = json.loads(msg.payload)["members"] if msg.payload else []
        with self.lock:
            self.latest[party] = {m["user_id"]: m for m in members}

    def members(self, party):
        with self.lock:
            return dict(self.latest.get(party, {}))

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


class device:
    """An app's device: client id = device id, a token, a Last Will, connect + join on every
    (re)connection, exactly as docs/protocol.md says an app does."""

    def __init__(self, port, user, dev, token, party):
        self.user, self.dev, self.party = user, dev, party
        self.session = f"{dev}-{os.getpid()}-1"
        self.connections = 0
        self.client = mqtt.Client(client_id=dev, clean_session=True)
        self.client.username_pw_set(user, token)
        self.client.will_set(f"presence/will/{user}/{dev}", json.dumps({"session_id": self.session}), qos=1)
        self.client.on_connect = self.on_connect
        self.client.reconnect_delay_set(1, 2)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()

    def on_connect(self, client, userdata, flags, rc):
        if rc != 0:
            print(f"      {self.user}/{self.dev}: CONNACK {rc}", flush=True)
            return
        self.connections += 1
        client.publish(f"presence/connect/{self.user}/{self.dev}",
                       json.dumps({"session_id": self.session}), qos=1)
        client.publish(f"party/{self.party}/join/{self.user}/{self.dev}",
                       json.dumps({"session_id": self.session}), qos=1)

    def leave(self):
        info = self.client.publish(f"party/{self.party}/leave/{self.user}/{self.dev}",
                                   json.dumps({"session_id": self.session}), qos=1)
        info.wait_for_publish(10)
        info = self.client.publish(f"presence/disconnect/{self.user}/{self.dev}", "", qos=1)
        info.wait_for_publish(10)
        self.client.loop_stop()
        self.client.disconnect()


def http_get(url):
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.read()


def run(s):
    started = time.monotonic()
    r = s.compose("up", "--build", "-d", check_rc=False)
    check(r.returncode == 0, f"docker-compose up --build -d ({time.monotonic() - started:.0f} s, "
          f"host ports mqtt {s.ports['mqtt']} web {s.ports['web']} http {s.ports['http']})")
    if r.returncode != 0:
        return
    init = s.state("init")
    check(init.get("Status") == "exited" and init.get("ExitCode") == 0, "init minted the tokens and exited 0")
    for svc in ("broker", "controller"):
        check(wait_until(f"{svc} healthy", lambda: s.healthy(svc), 120), f"{svc} is healthy (its healthcheck)")
    check(wait_until("simulate running", lambda: s.state("simulate").get("Running") is True, 30),
          "simulate is running")
    cfg = yaml.safe_load(s.compose("config", quiet=True).stdout)
    for svc in ("broker", "controller"):
        ports = cfg["services"][svc]["ports"]
        check(all(str(p).startswith("127.0.0.1:") or (isinstance(p, dict) and p.get("host_ip") == "127.0.0.1")
                  for p in ports), f"{svc}'s published ports listen on 127.0.0.1 only")
    print(f"      stack up and healthy after {time.monotonic() - started:.0f} s", flush=True)

    web, http, port = s.ports["web"], s.ports["http"], s.ports["mqtt"]
    status, body = http_get(f"http://127.0.0.1:{web}/")
    check(status == 200 and b"mqtt-presence" in body, "the broker serves the party page on the web port")
    status, body = http_get(f"http://127.0.0.1:{web}/demo-config.json")
    demo_cfg = json.loads(body)
    cast = cfg["services"]["init"]["environment"]["DEMO_CAST"].split()
    check(status == 200 and demo_cfg.get("development_only") is True and sorted(demo_cfg["tokens"]) == sorted(cast),
          "the page's demo-config.json carries demo tokens for the cast")
    status, body = http_get(f"http://127.0.0.1:{http}/healthz")
    check(status == 200, f"the controller's /healthz answers 200 ({body.decode().strip()})")
    status, body = http_get(f"http://127.0.0.1:{http}/metrics")
    check(status == 200 and b"presence_" in body, "the controller's /metrics answers")

    watcher = snapshots(port, "watcher", s.mint("watcher"))
    alice = device(port, "alice", "phone", s.mint("alice"), PARTY)
    check(wait_until("alice in the snapshot", lambda: "alice" in watcher.members(PARTY), 30),
          f"a device with a token from the same key joins party {PARTY}; a subscriber sees the snapshot")
    sim = cfg["services"]["simulate"]["command"]
    sims = {f"sim{i}" for i in range(1, int(sim[sim.index("--devices") + 1]) + 1)}
    check(wait_until("simulated members", lambda: set(watcher.members("demo")) == simulated_members(s), 30)
          and set(watcher.members("demo")) <= sims,
          f"the simulate service's devices are the members of party demo ({' '.join(sorted(watcher.members('demo')))})")
    watcher.close()

    # --- docker-compose restart broker ------------------------------------------------------
    connections = alice.connections
    s.compose("restart", "broker", quiet=True)
    check(wait_until("broker healthy again", lambda: s.healthy("broker"), 60), "docker-compose restart broker: healthy again")
    r = s.compose("exec", "-T", "broker", "test", "-s", "/mosquitto/data/mosquitto.db", check_rc=False, quiet=True)
    check(r.returncode == 0, "the broker's persistence file is on the broker-data volume")
    watcher = snapshots(port, "watcher", s.mint("watcher"))
    check(wait_until("retained snapshot after the restart", lambda: "alice" in watcher.members(PARTY), 30),
          "after the broker restart a new subscriber gets the party's retained snapshot")
    check(wait_until("alice reconnected", lambda: alice.connections > connections, 30),
          "the device reconnects to the restarted broker")
    check(wait_until("controller healthy", lambda: s.healthy("controller"), 60), "the controller is healthy after the broker restart")
    present = wait_until("alice present", lambda: watcher.members(PARTY).get("alice", {}).get("state") == "MEMBER_STATE_PRESENT", 30)
    if not present:
        # The last snapshot the controller published: a stale one (its epoch and seq from before
        # the restart) means the controller's publishes stopped, not that it decided wrongly.
        print(f"      alice in the last snapshot: {watcher.members(PARTY).get('alice')}", flush=True)
    check(present, "the device is a present member again")
    watcher.close()

    # --- kill the controller ------------------------------------------------------------------
    # docker-compose kill: it stays down (a manual stop), so what happens meanwhile must wait in
    # its persistent session on the broker.
    s.compose("kill", "controller", quiet=True)
    check(wait_until("controller down", lambda: not s.state("controller").get("Running"), 20),
          "docker-compose kill controller: the controller is down")
    bob = device(port, "bob", "tab", s.mint("bob"), PARTY)
    alice.leave()
    time.sleep(1)  # both reach the broker and wait in the controller's session queue
    s.compose("start", "controller", quiet=True)
    check(wait_until("controller healthy", lambda: s.healthy("controller"), 60), "the controller starts again and is healthy")
    watcher = snapshots(port, "watcher", s.mint("watcher"))
    check(wait_until("no ghost", lambda: set(watcher.members(PARTY)) == {"bob"}, 30),
          f"the controller restored and drained its queue: party {PARTY} is exactly bob (joined "
          f"while it was down); alice, who left meanwhile, is no ghost ({sorted(watcher.members(PARTY))})")

    # Down again, and the broker restarts meanwhile: the queue for the controller's session comes
    # back from the persistence file (plugin_opt_controller_session keeps its rights).
    s.compose("kill", "controller", quiet=True)
    check(wait_until("controller down", lambda: not s.state("controller").get("Running"), 20),
          "the controller is down again")
    carol = device(port, "carol", "laptop", s.mint("carol"), PARTY)
    time.sleep(1)
    s.compose("restart", "broker", quiet=True)
    check(wait_until("broker healthy", lambda: s.healthy("broker"), 60), "the broker restarts while the controller is down")
    s.compose("start", "controller", quiet=True)
    check(wait_until("controller healthy", lambda: s.healthy("controller"), 60), "the controller starts and is healthy")
    check(wait_until("carol", lambda: set(watcher.members(PARTY)) == {"bob", "carol"}, 30),
          f"what was queued for the controller survived the broker restart: party {PARTY} is "
          f"bob and carol ({sorted(watcher.members(PARTY))})")

    # A crash: SIGKILL to the controller's process; the restart policy brings it back.
    before = s.state("controller")
    os.kill(before["Pid"], 9)
    check(wait_until("controller restarted", lambda: s.state("controller").get("StartedAt") != before["StartedAt"]
                     and s.state("controller").get("Running"), 30),
          "after a SIGKILL of its process the restart policy restarts the controller")
    check(wait_until("controller healthy", lambda: s.healthy("controller"), 60), "the restarted controller is healthy")
    time.sleep(2)
    check(set(watcher.members(PARTY)) == {"bob", "carol"},
          f"party {PARTY} is unchanged ({sorted(watcher.members(PARTY))})")
    truth = lambda: simulated_members(s)  # noqa: E731
    check(wait_until("demo members", lambda: set(watcher.members("demo")) == truth() and truth() <= sims, 45),
          f"party demo is exactly the simulated devices that are joined by simulate's own log "
          f"({sorted(watcher.members('demo'))} vs {sorted(truth())})")
    status, _ = http_get(f"http://127.0.0.1:{http}/healthz")
    check(status == 200, "/healthz answers after the restore")
    watcher.close()
    bob.leave()
    carol.leave()


def simulated_members(s):
    """Who the simulate service says is in party demo: its joined/left/rejoined lines, in order."""
    out = s.compose("logs", "--no-color", "simulate", quiet=True, check_rc=False).stdout
    members = set()
    for line in out.splitlines():
        words = line.split("|", 1)[-1].split()
        if len(words) == 2 and words[0] in ("joined", "rejoined", "left"):
            user = words[1].split("/")[0]
            (members.discard if words[0] == "left" else members.add)(user)
    return members


def main():
    for tool in (DOCKER, COMPOSE):
        if shutil.which(tool) is None:
            print(f"SKIP: {tool} not found")
            return 77
    tmp = tempfile.mkdtemp(prefix="presence-compose-up-")
    s = stack(tmp)
    started = time.monotonic()
    try:
        run(s)
    except Exception as e:  # noqa: BLE001 -- any error is a failed run with its logs
        check(False, f"the run completed ({type(e).__name__}: {e})")
    finally:
        if failures:
            s.logs()
        if failures and os.environ.get("KEEP_STACK") == "1":
            print(f"KEEP_STACK=1: left project {PROJECT} up (key in {tmp})")
        else:
            r = s.compose("down", "-v", "--remove-orphans", check_rc=False, quiet=True)
            left = subprocess.run([DOCKER, "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}"],
                                  capture_output=True, text=True).stdout.split()
            vols = subprocess.run([DOCKER, "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"],
                                  capture_output=True, text=True).stdout.split()
            check(r.returncode == 0 and not left and not vols, "docker-compose down -v leaves no container or volume")
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"compose test: {len(failures)} failed, {time.monotonic() - started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
