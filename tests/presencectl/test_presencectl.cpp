// presencectl as a user runs it: the real binary against a real broker and controller, asserting
// on what it prints and on its exit codes (0 ok, 1 not found/offline, 2 usage, 3 broker errors).

#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "presence/testing/process.hpp"
#include "presence/testing/temp_dir.hpp"
#include "presence/testing/tokens.hpp"
#include "presence/token/token.hpp"
#include "stack.hpp"

using namespace presence;
using namespace presence::testing;

namespace {

struct result {
    int code = -1;
    std::string output;  // stdout and stderr
};

std::string slurp(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::vector<std::string> ctl_argv(const std::vector<std::string>& args) {
    std::vector<std::string> argv{PRESENCECTL_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

// Runs presencectl to completion.
result ctl(const std::vector<std::string>& args) {
    static int n = 0;
    temp_dir dir("presencectl-run");
    const auto log = dir.path() / ("run" + std::to_string(++n) + ".log");
    result r;
    r.code = run_to_completion(ctl_argv(args), log);
    r.output = slurp(log);
    return r;
}

std::vector<std::string> with_broker(const broker& b, std::vector<std::string> args) {
    args.insert(args.begin(), {"--broker", "127.0.0.1:" + std::to_string(b.port())});
    return args;
}

// Waits until a running command's log matches `pattern`.
bool wait_output(const std::filesystem::path& log, const std::regex& pattern,
                 std::chrono::seconds timeout = std::chrono::seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (std::regex_search(slurp(log), pattern)) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

}  // namespace

TEST_CASE("exit_codes_for_usage_and_broker_errors") {
    CHECK(ctl({"--help"}).code == 0);
    CHECK(ctl({}).code == 2);
    CHECK(ctl({"who"}).code == 2);  // no user
    CHECK(ctl({"who", "alice", "--no-such-flag"}).code == 2);
    CHECK(ctl({"--timeout", "soon", "who", "alice"}).code == 2);
    CHECK(ctl({"who", "not/an/id"}).code == 2);
    CHECK(ctl({"watch", "bad party"}).code == 2);
    CHECK(ctl({"--broker", "nowhere:99999", "who", "alice"}).code == 2);

    // Nothing listens on a port of a stopped broker: exit 3 and a clear message.
    std::uint16_t dead_port = 0;
    {
        broker b;
        dead_port = b.port();
    }
    const auto down = ctl({"--broker", "127.0.0.1:" + std::to_string(dead_port), "who", "alice"});
    CHECK(down.code == 3);
    CHECK(down.output.find("cannot connect") != std::string::npos);

    // A broker without a controller: the query is never answered.
    broker lonely;
    const auto silent = ctl(with_broker(lonely, {"--timeout", "1s", "members", "demo"}));
    CHECK(silent.code == 3);
    CHECK(silent.output.find("no reply") != std::string::npos);
}

TEST_CASE("who_where_and_members_answer_from_a_running_system") {
    stack s;
    app_device alice(s.broker_.uri(), stack::app("alice", "alice-phone"));
    alice.connect();
    alice.join("p1");
    alice.join("p2");
    REQUIRE(s.watch->wait_snapshot(
        "p2", [](const core::party_snapshot* p) { return is_present(p, "alice"); }));

    const auto who = ctl(with_broker(s.broker_, {"who", "alice"}));
    CHECK(who.code == 0);
    CHECK(std::regex_search(
        who.output,
        std::regex(R"(alice\s+online\s+last seen 20\d\d-.*alice-phone live.*parties: p1 p2)")));

    const auto who_both = ctl(with_broker(s.broker_, {"who", "alice", "nobody"}));
    CHECK(who_both.code == 1);  // one of them is offline
    CHECK(std::regex_search(who_both.output, std::regex(R"(nobody\s+offline)")));

    const auto who_json = ctl(with_broker(s.broker_, {"who", "alice", "--json"}));
    CHECK(who_json.code == 0);
    CHECK(who_json.output.find(R"("user_id":"alice","online":true)") != std::string::npos);

    const auto where = ctl(with_broker(s.broker_, {"where", "alice"}));
    CHECK(where.code == 0);
    CHECK(where.output == "p1\np2\n");
    CHECK(ctl(with_broker(s.broker_, {"where", "nobody"})).code == 1);

    const auto members = ctl(with_broker(s.broker_, {"members", "p1"}));
    CHECK(members.code == 0);
    const auto snapshot = s.watch->latest_snapshot("p1");
    REQUIRE(snapshot);
    CHECK(members.output.find("p1 revision " + std::to_string(snapshot->revision) +
                              ", 1 members") != std::string::npos);
    CHECK(members.output.find("alice present [alice-phone]") != std::string::npos);
    CHECK(ctl(with_broker(s.broker_, {"members", "empty"})).code == 1);
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("watch_prints_a_join_with_its_revision") {
    stack s;
    temp_dir dir("presencectl-watch");
    const auto log = dir.path() / "watch.log";
    process watch(ctl_argv(with_broker(s.broker_, {"watch", "demo"})), log);
    REQUIRE(wait_output(log, std::regex("watching party demo")));

    app_device bob(s.broker_.uri(), stack::app("bob", "bob-tab"));
    bob.connect();
    bob.join("demo");
    REQUIRE(s.watch->wait_event(
        "demo", [](const core::party_event& e) { return e.kind == core::event_kind::joined; }));
    const auto revision = std::to_string(s.watch->events("demo").back().revision);
    CHECK(wait_output(log, std::regex("rev " + revision + R"(\s+joined\s+bob \[bob-tab\])")));
    CHECK(
        wait_output(log, std::regex("rev " + revision + R"(\s+members\s+demo: 1 -- bob present)")));
    bob.leave("demo");
    CHECK(wait_output(log, std::regex(R"(left\s+bob \[bob-tab\] reason=explicit)")));
    CHECK(watch.stop() == 0);  // SIGTERM ends a watch cleanly

    // --json with --count: the retained snapshot arrives first, then the command exits by itself.
    bob.join("demo");
    REQUIRE(s.watch->wait_snapshot(
        "demo", [](const core::party_snapshot* p) { return is_present(p, "bob"); }));
    const auto json = ctl(with_broker(s.broker_, {"--json", "watch", "demo", "--count", "1"}));
    CHECK(json.code == 0);
    CHECK(json.output.rfind(
              R"({"topic":"party/demo/members","retained":true,"members":{"party_id":"demo")", 0) ==
          0);
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("simulate_makes_n_members_appear_then_leave") {
    stack s;
    temp_dir dir("presencectl-simulate");
    const auto log = dir.path() / "simulate.log";
    process sim(ctl_argv(with_broker(
                    s.broker_, {"simulate", "--party", "sims", "--devices", "6", "--for", "60s"})),
                log);
    CHECK(s.watch->wait_snapshot("sims", [](const core::party_snapshot* p) {
        if (p == nullptr || p->members.size() != 6) return false;
        for (int i = 1; i <= 6; ++i) {
            if (!is_present(p, "sim" + std::to_string(i))) return false;
        }
        return true;
    }));
    CHECK(wait_output(log, std::regex("6 devices joined party sims")));
    // Ctrl-C: every device leaves explicitly, so the party empties at once (no grace wait).
    CHECK(sim.stop() == 0);
    CHECK(
        s.watch->wait_snapshot("sims", [](const core::party_snapshot* p) { return p == nullptr; }));
    // Every device left explicitly. The party's cleared snapshot and the last event travel on
    // different topics, so wait for the count rather than read it at once.
    const auto explicit_leaves = [&] {
        const auto events = s.watch->events("sims");
        return std::count_if(events.begin(), events.end(), [](const core::party_event& e) {
            return e.kind == core::event_kind::left &&
                   e.reason == core::leave_reason::explicit_leave;
        });
    };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (explicit_leaves() < 6 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(explicit_leaves() == 6);
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("token_mints_what_the_plugin_accepts_and_simulate_logs_in_with_it") {
    const std::string key_file = dev_jwt_key_file().string();
    const std::string controller_token = mint_test_token(controller_user, token::role::controller);
    stack_options o;
    o.broker.config = "dev";  // the presence plugin: every client needs a token
    o.controller_username = std::string(controller_user);
    o.controller_password = controller_token;
    o.observer.username = std::string(controller_user);
    o.observer.password = controller_token;
    stack s(o);

    const auto minted = ctl({"token", "--key-file", key_file, "--user", "alice", "--ttl", "1h"});
    REQUIRE(minted.code == 0);
    const std::string alice_token = minted.output.substr(0, minted.output.find('\n'));
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const auto verdict = token::verify(dev_jwt_key(), alice_token, "alice", now);
    CHECK(verdict.ok());
    CHECK(verdict.granted.granted == token::role::app);
    CHECK(verdict.granted.expires_s > now + 3500);
    CHECK(verdict.granted.expires_s <= now + 3601);
    const auto controller =
        ctl({"token", "--key-file", key_file, "--user", "ops", "--role", "controller"});
    CHECK(token::verify(dev_jwt_key(), controller.output.substr(0, controller.output.find('\n')),
                        "ops", now)
              .granted.granted == token::role::controller);

    temp_dir dir("presencectl-token");
    const auto token_file = dir.path() / "alice.jwt";
    std::ofstream(token_file) << alice_token << '\n';
    // The broker accepts it for alice and the query is answered (exit 0 or 1, never 3). Whether
    // alice shows online depends on whether the plugin's lifecycle event of this very
    // connection reached the controller before the query did.
    const auto who =
        ctl(with_broker(s.broker_, {"--username", "alice", "--client-id", "alice-cli",
                                    "--token-file", token_file.string(), "who", "alice"}));
    CHECK((who.code == 0 || who.code == 1));
    CHECK(std::regex_search(who.output, std::regex(R"(^alice\s+(online|offline)\s+last seen)")));
    // ... and refuses it for anybody else.
    const auto bob =
        ctl(with_broker(s.broker_, {"--username", "bob", "--client-id", "bob-cli", "--token-file",
                                    token_file.string(), "who", "alice"}));
    CHECK(bob.code == 3);
    CHECK(bob.output.find("refused") != std::string::npos);

    // simulate mints one token per device from the key.
    const auto log = dir.path() / "simulate.log";
    process sim(ctl_argv(with_broker(s.broker_, {"simulate", "--party", "keyed", "--devices", "3",
                                                 "--key-file", key_file, "--for", "60s"})),
                log);
    CHECK(s.watch->wait_snapshot("keyed", [](const core::party_snapshot* p) {
        return p != nullptr && p->members.size() == 3 && is_present(p, "sim1") &&
               is_present(p, "sim2") && is_present(p, "sim3");
    }));
    CHECK(sim.stop() == 0);

    // Usage errors: no key file, a key shorter than the plugin accepts, an unknown role.
    CHECK(ctl({"token", "--key-file", (dir.path() / "missing").string(), "--user", "a"}).code == 2);
    const auto short_key = dir.path() / "short.key";
    std::ofstream(short_key) << "too-short\n";
    CHECK(ctl({"token", "--key-file", short_key.string(), "--user", "a"}).code == 2);
    CHECK(ctl({"token", "--key-file", key_file, "--user", "a", "--role", "root"}).code == 2);
    CHECK(ctl({"token", "--key-file", key_file, "--user", "a/b"}).code == 2);
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("observer_role_sessions_are_never_devices_and_cannot_join") {
    const std::string key_file = dev_jwt_key_file().string();
    const std::string controller_token = mint_test_token(controller_user, token::role::controller);
    stack_options o;
    o.broker.config = "dev";
    o.controller_username = std::string(controller_user);
    o.controller_password = controller_token;
    o.observer.username = std::string(controller_user);
    o.observer.password = controller_token;
    stack s(o);
    app_options alice_options = stack::app("alice", "alice-phone");
    alice_options.password = mint_test_token("alice");
    app_device alice(s.broker_.uri(), alice_options);
    alice.connect();
    alice.join("p1");
    REQUIRE(s.watch->wait_snapshot(
        "p1", [](const core::party_snapshot* p) { return is_present(p, "alice"); }));

    temp_dir dir("presencectl-observer");
    const auto minted =
        ctl({"token", "--key-file", key_file, "--user", "ops", "--role", "observer"});
    REQUIRE(minted.code == 0);
    const std::string ops_token = minted.output.substr(0, minted.output.find('\n'));
    const auto token_file = dir.path() / "ops.jwt";
    std::ofstream(token_file) << ops_token << '\n';
    const auto as_ops = [&](std::string client_id, std::vector<std::string> args) {
        args.insert(args.begin(), {"--username", "ops", "--client-id", std::move(client_id),
                                   "--token-file", token_file.string()});
        return with_broker(s.broker_, std::move(args));
    };
    const std::string port = std::to_string(s.broker_.port());

    // A long-lived observer session (watch) and a mosquitto_rr query, as the docs show them.
    const auto watch_log = dir.path() / "watch.log";
    process watch(ctl_argv(as_ops("ops-watch", {"watch", "p1"})), watch_log);
    CHECK(wait_output(watch_log, std::regex("alice")));
    const auto rr_log = dir.path() / "rr.log";
    CHECK(run_to_completion(
              {"/usr/bin/mosquitto_rr", "-p", port, "-u", "ops", "-P", ops_token, "-i", "ops-rr",
               "-t", "presence/query/ops/ops-rr", "-e", "presence/reply/ops/ops-rr", "-W", "10",
               "-m", R"({"list_members":{"party_id":"p1"}})"},
              rr_log) == 0);
    CHECK(slurp(rr_log).find("alice") != std::string::npos);
    const auto members = ctl(as_ops("ops-cli", {"members", "p1"}));
    CHECK(members.code == 0);
    CHECK(members.output.find("alice") != std::string::npos);

    // An observer may not publish an app's inbound topics: the join is denied (and logged, checked
    // once the broker has flushed its log at exit).
    const auto pub_log = dir.path() / "pub.log";
    run_to_completion({"/usr/bin/mosquitto_pub", "-p", port, "-u", "ops", "-P", ops_token, "-i",
                       "ops-pub", "-q", "1", "-t", "party/p1/join/ops/ops-pub", "-m", "{}"},
                      pub_log);

    // A control: the same tool with an app token is a device of its user once its connection is
    // reported, so the checks below can tell the roles apart.
    const auto app_file = dir.path() / "ops2.jwt";
    std::ofstream(app_file) << mint_test_token("ops2") << '\n';
    const auto app_log = dir.path() / "app-watch.log";
    process app_watch(
        ctl_argv(with_broker(s.broker_, {"--username", "ops2", "--client-id", "ops2-watch",
                                         "--token-file", app_file.string(), "watch", "p1"})),
        app_log);
    CHECK(wait_output(app_log, std::regex("alice")));
    bool app_seen = false;
    for (int i = 0; i < 100 && !app_seen; ++i) {
        app_seen = ctl(with_broker(s.broker_, {"--username", "ops2", "--client-id", "ops2-cli",
                                               "--token-file", app_file.string(), "who", "ops2"}))
                       .code == 0;
        if (!app_seen) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(app_seen);

    // By now the observer's sessions (watch still open, rr, members, pub) would have been
    // reported long ago: ops has no device, and p1 lists alice alone.
    const auto who = ctl(as_ops("ops-cli", {"--json", "who", "ops"}));
    CHECK(who.code == 1);
    CHECK(who.output.find(R"("user_id":"ops","online":false)") != std::string::npos);
    CHECK(who.output.find("ops-watch") == std::string::npos);
    const auto after = ctl(as_ops("ops-cli", {"--json", "members", "p1"}));
    CHECK(after.code == 0);
    CHECK(after.output.find(R"("user_id":"alice")") != std::string::npos);
    CHECK(after.output.find(R"("user_id":"ops")") == std::string::npos);
    CHECK(watch.stop() == 0);
    CHECK(app_watch.stop() == 0);
    CHECK(stop_controller(s) == 0);
    s.broker_.stop();
    CHECK(
        slurp(s.broker_.log()).find("denied write of 'party/p1/join/ops/ops-pub' to ops/ops-pub") !=
        std::string::npos);
}
