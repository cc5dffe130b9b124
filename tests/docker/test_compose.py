#!/usr/bin/python3
"""docker-compose.yml checked without a Docker engine (quick; runs where Docker is absent).
The real run, images and containers, is tests/docker/test_compose_up.py (scripts/test-docker).

1. `docker-compose config -q` accepts the file; its normalised form is read back (PyYAML, a
   dependency of Debian's docker-compose).
2. The file, docker/Dockerfile and mosquitto-conf/docker.conf agree with each other (targets,
   paths, volumes, secrets, healthchecks).
3. Every service's entry command runs OUTSIDE Docker against this build, with only hosts, ports
   and paths rewritten: init mints tokens and the page's demo config; the broker starts from
   docker.conf with the plugin and serves the page; the broker's healthcheck passes (and fails
   with a wrong token); the controller starts with its compose flags and its healthcheck passes;
   simulate brings 5 members into party demo. docker/runtime-packages resolves every library
   the images' binaries need to an installed Debian package.
Not exercised here (test_compose_up.py does): building the images, container networking,
volumes, secrets mounting, restart policies and depends_on ordering.

Environment (set by tests/docker/CMakeLists.txt): PRESENCE_SOURCE_DIR, PLUGIN_SO,
CONTROLLER_BIN, PRESENCECTL_BIN, TOKEN_BIN, WEB_DIR.
"""
import base64
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

SRC = os.environ["PRESENCE_SOURCE_DIR"]
BIN = {name: os.environ[var] for name, var in [
    ("plugin", "PLUGIN_SO"), ("controller", "CONTROLLER_BIN"),
    ("presencectl", "PRESENCECTL_BIN"), ("token", "TOKEN_BIN")]}
WEB_DIR = os.environ["WEB_DIR"]

failures = []
passes = 0


def check(cond, what):
    global passes
    if cond:
        passes += 1
        print(f"ok    {what}")
    else:
        failures.append(what)
        print(f"FAIL  {what}")
    return cond


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_until(what, pred, timeout=30.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        if proc is not None and proc.poll() is not None:
            print(f"      {what}: process exited with {proc.returncode}")
            return False
        time.sleep(0.1)
    print(f"      {what}: not within {timeout} s")
    return False


def tail(path, n=25):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def main():
    compose_file = os.path.join(SRC, "docker-compose.yml")
    # --- 1. docker-compose config ------------------------------------------------------------
    r = subprocess.run(["docker-compose", "-f", compose_file, "config", "-q"],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"docker-compose config -q accepts docker-compose.yml {r.stderr.strip()}")
    r = subprocess.run(["docker-compose", "-f", compose_file, "config"],
                       capture_output=True, text=True, check=True)
    cfg = yaml.safe_load(r.stdout)
    services = cfg["services"]

    # --- 2. consistency ------------------------------------------------------------------------
    with open(os.path.join(SRC, "docker", "Dockerfile")) as f:
        dockerfile = f.read()
    with open(os.path.join(SRC, "mosquitto-conf", "docker.conf")) as f:
        docker_conf = f.read()
    conf = {}
    for line in docker_conf.splitlines():
        words = line.split()
        if words and not words[0].startswith("#"):
            conf.setdefault(words[0], []).append(" ".join(words[1:]))

    check(set(services) == {"init", "broker", "controller", "simulate"}, "services: init, broker, controller, simulate")
    check(re.search(r"^ARG DEBIAN_IMAGE=debian:bookworm-slim$", dockerfile, re.M) is not None,
          "images are based on debian:bookworm-slim")
    for name, svc in services.items():
        target = svc.get("build", {}).get("target")
        check(svc.get("build", {}).get("dockerfile") == "docker/Dockerfile" and target and
              re.search(rf"^FROM \${{DEBIAN_IMAGE}} AS {target}$", dockerfile, re.M) is not None,
              f"{name}: built from docker/Dockerfile target '{target}' on Debian 12")
    for name in ("broker", "controller"):
        check(bool(services[name].get("healthcheck", {}).get("test")), f"{name} has a healthcheck")
    broker = services["broker"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in broker["volumes"]}
    persistence = conf["persistence_location"][0].rstrip("/")
    check(mounts.get(persistence) == "broker-data" and "broker-data" in cfg.get("volumes", {}),
          f"broker persistence ({persistence}) is the named volume broker-data")
    check(mounts.get(conf["http_dir"][0]) == "web", "the broker's http_dir is the web volume init fills")
    check("mosquitto-conf/docker.conf /etc/mosquitto/presence.conf" in dockerfile and
          broker["command"] == ["mosquitto", "-c", "/etc/mosquitto/presence.conf"],
          "the broker image runs mosquitto-conf/docker.conf")
    plugin_path = conf["plugin"][0]
    check(f"/out/broker/mosquitto_presence.so {plugin_path}" in dockerfile,
          f"the plugin is installed where docker.conf loads it ({plugin_path})")
    secret = cfg.get("secrets", {}).get("presence_jwt_key", {})
    with open(os.path.join(SRC, "docker", "broker-entrypoint")) as f:
        entrypoint = f.read()
    check(secret.get("file", "").endswith("/secrets/jwt.key") and
          "/run/secrets/presence_jwt_key" in entrypoint and
          conf["plugin_opt_jwt_key_file"][0] == "/run/presence/jwt.key" and
          broker.get("entrypoint") == ["broker-entrypoint"] and
          "docker/broker-entrypoint /usr/local/bin/broker-entrypoint" in dockerfile,
          "the JWT key is the docker secret presence_jwt_key from ./secrets/jwt.key, "
          "copied by broker-entrypoint to where docker.conf reads it")
    with open(os.path.join(SRC, ".gitignore")) as f:
        check("/secrets/" in f.read().split(), "secrets/ is gitignored")
    with open(os.path.join(SRC, ".dockerignore")) as f:
        check("secrets/" in f.read().split(), "secrets/ never enters an image build context")
    env_values = [str(v) for s in services.values() for v in (s.get("environment") or {}).values()]
    check(not any(len(v) >= 32 and " " not in v for v in env_values), "no key or token in any environment")
    # docker-compose 1.29 prints ports as "127.0.0.1:9001:9001/tcp"; Compose v2 as mappings.
    ws_ports = [p for p in broker.get("ports", [])
                if (str(p.get("target")) if isinstance(p, dict) else p.split("/")[0].split(":")[-1]) == "9001"]
    check(len(ws_ports) == 1 and any(l.startswith("9001") for l in conf["listener"]),
          "the page's websockets port 9001 is a docker.conf listener and published")

    # --- 3. entry commands outside Docker ------------------------------------------------------
    for image, bins in [("broker", [BIN["plugin"]]), ("controller", [BIN["controller"]]),
                        ("tools", [BIN["presencectl"], BIN["token"]])]:
        r = subprocess.run([os.path.join(SRC, "docker", "runtime-packages"), *bins],
                           capture_output=True, text=True)
        pkgs = r.stdout.split()
        installed = all(subprocess.run(["dpkg-query", "-W", p], capture_output=True).returncode == 0
                        for p in pkgs)
        check(r.returncode == 0 and pkgs and installed,
              f"{image} image: runtime packages resolve ({' '.join(pkgs)}) {r.stderr.strip()}")

    tmp = tempfile.mkdtemp(prefix="presence-compose-")
    os.chmod(tmp, 0o755)  # the broker drops to the mosquitto user, which must reach its files
    procs = []
    ok = False
    try:
        ok = run_stack(tmp, services, docker_conf, procs)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        if ok and not failures:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp} (logs)")
    print(f"{passes} passed, {len(failures)} failed")
    return 1 if failures else 0


def rewrite_paths(text, paths):
    for old, new in paths.items():
        text = text.replace(old, new)
    return text


def run_stack(tmp, services, docker_conf, procs):
    port, ws_port, http_port = free_port(), free_port(), free_port()
    key_file = os.path.join(tmp, "secrets", "jwt.key")
    os.makedirs(os.path.dirname(key_file))
    # The README's command: head -c 48 /dev/urandom | base64 -w0 > secrets/jwt.key
    with open(key_file, "w") as f:
        f.write(base64.b64encode(os.urandom(48)).decode())
    tokens, web, data = (os.path.join(tmp, d) for d in ("tokens", "web", "data"))
    os.makedirs(data)
    os.chmod(key_file, 0o600)  # like a host file: only its owner (here root) may read it
    key_dir = os.path.join(tmp, "run-presence")
    paths = {"/run/secrets/presence_jwt_key": key_file, "/tokens/": tokens + "/",
             "/srv/presence-web": web, "/mosquitto/data/": data + "/",
             "/run/presence/": key_dir + "/"}
    as_root = os.geteuid() == 0

    # init
    init = services["init"]
    env = dict(os.environ)
    env.update({k: rewrite_paths(str(v), paths) for k, v in init["environment"].items()})
    env.update({"TOKENS_DIR": tokens, "WEB_DIR": web, "PAGE_DIR": WEB_DIR,
                "PRESENCE_TOKEN": BIN["token"]})
    argv = [os.path.join(SRC, "docker", init["command"][0])] + init["command"][1:]
    r = subprocess.run(argv, env=env, capture_output=True, text=True)
    if not check(r.returncode == 0, f"init: presence-demo-init {r.stdout.strip()} {r.stderr.strip()}"):
        return False
    cast = init["environment"]["DEMO_CAST"].split()
    with open(os.path.join(web, "demo-config.json")) as f:
        demo = json.load(f)
    check(demo.get("development_only") is True and sorted(demo["tokens"]) == sorted(cast),
          f"init: demo-config.json holds demo tokens for {' '.join(cast)}, marked development_only")

    # broker: docker.conf with ports and paths of this machine. As root, mosquitto drops to the
    # mosquitto user before it loads the plugin, so the plugin is staged into tmp (0755) as the
    # image has it in /usr/lib: the build dir may sit in a private (0700) checkout.
    plugin_so = BIN["plugin"]
    if as_root:
        plugin_so = os.path.join(tmp, "mosquitto_presence.so")
        shutil.copy(BIN["plugin"], plugin_so)
        os.chmod(plugin_so, 0o644)
    lines = []
    for line in docker_conf.splitlines():
        words = line.split()
        if words[:1] == ["listener"]:
            line = f"listener {ws_port if words[1] == '9001' else port} 127.0.0.1"
        elif words[:1] == ["plugin"]:
            line = f"plugin {plugin_so}"
        lines.append(rewrite_paths(line, paths))
    conf_file = os.path.join(tmp, "presence.conf")
    with open(conf_file, "w") as f:
        f.write("\n".join(lines) + "\n")
    cmd = services["broker"]["command"]
    blog = os.path.join(tmp, "broker.log")
    argv = ["/usr/sbin/" + cmd[0], *cmd[1:-1], conf_file]
    benv = dict(os.environ)
    if as_root:
        # As in the image: root runs broker-entrypoint, mosquitto drops to the mosquitto user
        # before loading the plugin, which must still read the key (the secret is root's 0600).
        shutil.chown(data, "mosquitto", "mosquitto")
        argv = [os.path.join(SRC, "docker", services["broker"]["entrypoint"][0]), *argv]
        benv.update({"PRESENCE_KEY_SECRET": key_file, "PRESENCE_KEY_DIR": key_dir})
    else:
        print("      not root: mosquitto keeps this user, broker-entrypoint is not run")
        os.makedirs(key_dir)
        shutil.copy(key_file, os.path.join(key_dir, "jwt.key"))
    broker = subprocess.Popen(argv, env=benv, stdout=open(blog, "w"), stderr=subprocess.STDOUT)
    procs.append(broker)
    if not check(wait_until("broker ports", lambda: port_open(port) and port_open(ws_port), 20, broker),
                 "broker: broker-entrypoint + mosquitto start from docker.conf with the plugin "
                 "(as the mosquitto user) and both listeners"):
        print(tail(blog))
        return False

    def healthcheck(service, replacements):
        test = services[service]["healthcheck"]["test"]
        if test[0] == "CMD-SHELL":
            argv = ["sh", "-c", test[1].replace("$$", "$")]
        else:
            argv = test[1:]
        argv = [rewrite_paths(a, replacements) for a in argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30)

    broker_hc = {"-p 1883": f"-p {port}", "/tokens/": tokens + "/"}
    r = healthcheck("broker", broker_hc)
    check(r.returncode == 0, f"broker healthcheck passes {r.stderr.strip()}")
    with open(os.path.join(tokens, "healthcheck.jwt")) as f:
        claims = f.read().strip().split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    check(claims.get("role") == "observer", "the healthcheck probe's token has the observer role (never a device)")
    bad_tokens = os.path.join(tmp, "bad-tokens")
    os.makedirs(bad_tokens)
    with open(os.path.join(bad_tokens, "healthcheck.jwt"), "w") as f:
        f.write("not-a-token")
    r = healthcheck("broker", {"-p 1883": f"-p {port}", "/tokens/": bad_tokens + "/"})
    check(r.returncode != 0, "broker healthcheck fails with a wrong token")

    with urllib.request.urlopen(f"http://127.0.0.1:{ws_port}/", timeout=10) as resp:
        check(resp.status == 200 and b"mqtt-presence" in resp.read(), "broker serves the party page on 9001")

    # controller: the compose entrypoint + command
    ctl = services["controller"]
    argv = [BIN["controller"]] + [rewrite_paths(a, paths) for a in ctl["command"]]
    argv = [a.replace("tcp://broker:1883", f"tcp://127.0.0.1:{port}")
             .replace("0.0.0.0:9102", f"127.0.0.1:{http_port}") for a in argv]
    check(ctl["entrypoint"] == ["presence-controller"], "controller entrypoint is presence-controller")
    clog = os.path.join(tmp, "controller.log")
    controller = subprocess.Popen(argv, stdout=open(clog, "w"), stderr=subprocess.STDOUT)
    procs.append(controller)
    controller_hc = {"127.0.0.1:9102": f"127.0.0.1:{http_port}"}
    if not check(wait_until("controller healthcheck",
                            lambda: healthcheck("controller", controller_hc).returncode == 0,
                            30, controller),
                 "controller: starts with its compose flags and its healthcheck passes"):
        print(tail(clog))
        return False

    # simulate: 5 members appear in party demo
    sim = services["simulate"]
    argv = [BIN["presencectl"]] + [rewrite_paths(a, paths).replace("broker:1883", f"127.0.0.1:{port}")
                                   for a in sim["command"][1:]]
    slog = os.path.join(tmp, "simulate.log")
    simulate = subprocess.Popen(argv, stdout=open(slog, "w"), stderr=subprocess.STDOUT)
    procs.append(simulate)
    checker_token = os.path.join(tmp, "checker.jwt")
    with open(checker_token, "w") as f:
        subprocess.run([BIN["token"], "--key-file", key_file, "--sub", "checker"], stdout=f, check=True)
    devices = int(sim["command"][sim["command"].index("--devices") + 1])

    def members():
        r = subprocess.run([BIN["presencectl"], "--broker", f"127.0.0.1:{port}", "--username", "checker",
                            "--client-id", "checker-1", "--token-file", checker_token, "--json",
                            "members", "demo"], capture_output=True, text=True)
        if r.returncode not in (0, 1):
            print(f"      presencectl members: {r.returncode} {r.stderr.strip()}")
            return -1
        return len(json.loads(r.stdout)["members"].get("members", []))

    if not check(wait_until("simulated members", lambda: members() == devices, 30, simulate),
                 f"simulate: {devices} devices become members of party demo (asked with a token)"):
        print(tail(slog))
        return False
    simulate.send_signal(signal.SIGTERM)
    check(simulate.wait(20) == 0, "simulate stops cleanly on SIGTERM")
    return True


if __name__ == "__main__":
    sys.exit(main())
