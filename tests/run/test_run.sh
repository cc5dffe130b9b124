#!/usr/bin/env bash
# scripts/run from a copy of the checkout in a private (mode 0700) directory, with the build
# outputs copied in (PRESENCE_NO_BUILD=1, so the test takes seconds).
# Usage: test_run.sh private_dir | unprivileged_user | broken_plugin
#   private_dir        as the invoking user (as root: the 0700 directory is checked to be
#                      unreadable to the `mosquitto` user, which the broker drops to);
#                      waits for the "running" line, joins a party with mosquitto_pub and sees
#                      the snapshot with mosquitto_sub; then stops it and checks the clean-up.
#   unprivileged_user  the same as `nobody` (setpriv), when run as root; skipped otherwise
#                      (then private_dir is already the unprivileged case).
#   broken_plugin      the plugin file is garbage: scripts/run must exit non-zero and print the
#                      broker's reason.
# Environment (tests/run/CMakeLists.txt): PRESENCE_SOURCE_DIR, CONTROLLER_BIN, PLUGIN_SO,
# TOKEN_BIN, PRESENCECTL_BIN, WEB_DIR.
set -euo pipefail
mode=${1:?usage: test_run.sh private_dir|unprivileged_user|broken_plugin}
src=$PRESENCE_SOURCE_DIR

as=()
if [ "$mode" = unprivileged_user ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "skipped: not root, so run/private_dir already runs as an ordinary user"
        exit 0
    fi
    command -v setpriv >/dev/null || { echo "FAIL: setpriv (util-linux) is missing"; exit 1; }
    as=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
fi

base=$(mktemp -d "${TMPDIR:-/tmp}/presence-run-test.XXXXXX")  # mode 0700
run_pid=""
finish() {
    [ -n "$run_pid" ] && kill -TERM "$run_pid" 2>/dev/null && wait "$run_pid" 2>/dev/null
    rm -rf "$base"
}
trap finish EXIT
fail() { echo "FAIL: $*"; [ -f "$base/run.out" ] && sed 's/^/  | /' "$base/run.out"; exit 1; }

copy="$base/checkout"
mkdir -p "$copy"
tar -C "$src" --exclude='./build*' --exclude=./.run --exclude=./.git --exclude=node_modules \
    --exclude=./test-artifacts -cf - . | tar -C "$copy" -xf -
mkdir -p "$copy/build/controller" "$copy/build/plugin" "$copy/build/tools/presencectl"
cp "$CONTROLLER_BIN" "$copy/build/controller/"
cp "$PLUGIN_SO" "$TOKEN_BIN" "$copy/build/plugin/"
cp "$PRESENCECTL_BIN" "$copy/build/tools/presencectl/"
cp -R "$WEB_DIR" "$copy/build/web"
[ "$mode" = broken_plugin ] && echo "not a shared object" > "$copy/build/plugin/mosquitto_presence.so"
if [ ${#as[@]} -gt 0 ]; then
    chown -R nobody:nogroup "$base"
fi
[ "$(stat -c %a "$base")" = 700 ] || fail "$base is not mode 0700"
if [ "$(id -u)" -eq 0 ]; then
    # The point of the test: the broker's user cannot reach the checkout.
    if setpriv --reuid=mosquitto --regid=mosquitto --clear-groups \
        test -r "$copy/build/plugin/mosquitto_presence.so" 2>/dev/null; then
        fail "the mosquitto user can read the copy's plugin; the test would prove nothing"
    fi
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); web_port=$(free_port); metrics_port=$(free_port)
"${as[@]}" env PORT="$port" WEB_PORT="$web_port" METRICS_PORT="$metrics_port" PRESENCE_NO_BUILD=1 \
    HOME="$base" "$copy/scripts/run" > "$base/run.out" 2>&1 &
run_pid=$!

if [ "$mode" = broken_plugin ]; then
    for _ in $(seq 300); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$run_pid" 2>/dev/null && fail "scripts/run still runs with a broken plugin"
    rc=0
    wait "$run_pid" || rc=$?
    run_pid=""
    [ "$rc" -ne 0 ] || fail "scripts/run exited 0 with a broken plugin"
    grep -q "mqtt-presence is running" "$base/run.out" && fail "it claimed to be running"
    grep -q "FAILED: broker" "$base/run.out" || fail "the failing part (broker) is not named"
    grep -q "Unable to load auth plugin" "$base/run.out" || fail "the broker's reason is not shown"
    grep -q "fix:" "$base/run.out" || fail "no fix is printed"
    echo "ok: scripts/run exited $rc and printed:"
    sed 's/^/  | /' "$base/run.out"
    exit 0
fi

for _ in $(seq 600); do
    grep -q "mqtt-presence is running" "$base/run.out" && break
    kill -0 "$run_pid" 2>/dev/null || fail "scripts/run exited before the running line"
    sleep 0.1
done
grep -q "mqtt-presence is running" "$base/run.out" || fail "no running line within 60 s"

tokens="$copy/.run/tokens"
mosquitto_pub -p "$port" -u alice -P "$(cat "$tokens/alice")" -i phone -q 1 \
    -t party/runtest/join/alice/phone -m '{}' || fail "mosquitto_pub join failed"
snapshot=""
for _ in $(seq 30); do
    snapshot=$(mosquitto_sub -p "$port" -u bob -P "$(cat "$tokens/bob")" -i bob-screen -C 1 -W 2 \
        -t party/runtest/members/json 2>/dev/null || true)
    case $snapshot in *'"alice"'*) break ;; esac
    sleep 0.5
done
case $snapshot in
    *'"alice"'*) echo "ok: snapshot $snapshot" ;;
    *) fail "no snapshot listing alice on party/runtest/members/json (got: '$snapshot')" ;;
esac

kill -TERM "$run_pid"
rc=0
wait "$run_pid" || rc=$?
run_pid=""
ls -d "${TMPDIR:-/tmp}"/mqtt-presence-*-"$port".* >/dev/null 2>&1 &&
    fail "the runtime directory of port $port was not removed"
echo "ok: joined and saw the snapshot; scripts/run stopped (exit $rc) and cleaned up"
