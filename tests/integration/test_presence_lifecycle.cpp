// The controller with the presence plugin: a real mosquitto loading the built plugin (dev.conf),
// the real presence-controller consuming its lifecycle events, and real MQTT clients. Each case
// is one way a connection ends that a Last Will alone gets wrong or late.

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include "presence/testing/tokens.hpp"
#include "stack.hpp"

using namespace presence;
using namespace presence::testing;
using namespace std::chrono_literals;

namespace {

// The outputs the stack's observer watches (the same list stack.hpp subscribes to).
const std::vector<std::string> output_topics{"party/+/members", "party/+/events",
                                             "presence/controller/stats", "presence/user/+"};

observer_options controller_role_login() {
    observer_options o;
    o.username = std::string(controller_user);
    o.password = mint_test_token(controller_user, token::role::controller);
    o.sync_topic = true;
    return o;
}

raw_device_options raw_with_token(std::string user, std::string device,
                                  std::chrono::seconds keepalive) {
    raw_device_options o;
    o.user = user;
    o.device = std::move(device);
    o.password = mint_test_token(user);
    o.keepalive = keepalive;
    return o;
}

bool event_of(const core::party_event& e, std::string_view user, core::event_kind kind) {
    return e.member.user_id == user && e.kind == kind;
}

bool left_by_timeout(const core::party_event& e, std::string_view user) {
    return event_of(e, user, core::event_kind::left) && e.reason == core::leave_reason::timeout;
}

std::size_t count_events(const observer& o, std::string_view party, std::string_view user,
                         core::event_kind kind) {
    const auto events = o.events(party);
    return static_cast<std::size_t>(std::count_if(
        events.begin(), events.end(), [&](const auto& e) { return event_of(e, user, kind); }));
}

}  // namespace

TEST_CASE("plugin_clean_v311_disconnect_without_leave_goes_reconnecting_then_left") {
    stack s(plugin_stack_options("2s"));
    app_device alice(s.broker_.uri(), app_with_token("alice", "alice-phone"));
    alice.connect();
    alice.join("p1");
    REQUIRE(s.watch->wait_snapshot(
        "p1", [](const core::party_snapshot* p) { return is_present(p, "alice"); }));
    // The broker connection lives in the controller's private record (protocol v1.1).
    REQUIRE(s.watch->wait_until([&](const auto&) {
        const auto d = s.watch->recorded_device("alice", "alice-phone");
        return d && d->connection_seq > 0;
    }));

    alice.disconnect();  // a clean MQTT 3.1.1 DISCONNECT: the broker sends no will
    CHECK(s.watch->wait_event("p1", [](const core::party_event& e) {
        return event_of(e, "alice", core::event_kind::reconnecting);
    }));
    CHECK(s.watch->wait_event("p1", [](const auto& e) { return left_by_timeout(e, "alice"); }));
    CHECK(s.watch->wait_snapshot("p1", [](const core::party_snapshot* p) { return p == nullptr; }));
    // The controller learnt it from the plugin, not from a will.
    CHECK(s.watch->wait_stat("outcome_lifecycle_disconnected_applied",
                             [](double v) { return v >= 1; }));
    CHECK(s.watch->latest_stat("inbound_will") == 0);
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("plugin_persistent_session_takeover_keeps_the_member_present_without_flicker") {
    stack s(plugin_stack_options("2s"));
    app_options opts = app_with_token("alice", "alice-phone");
    opts.clean_session = false;
    app_device first(s.broker_.uri(), opts);
    first.connect();
    first.join("p1");
    REQUIRE(s.watch->wait_snapshot(
        "p1", [](const core::party_snapshot* p) { return is_present(p, "alice"); }));
    REQUIRE(s.watch->wait_until([&](const auto&) {
        const auto d = s.watch->recorded_device("alice", "alice-phone");
        return d && d->connection_seq > 0;
    }));
    const auto first_seq = s.watch->recorded_device("alice", "alice-phone")->connection_seq;

    // The same client id connects again (network switch): the broker takes the session over and
    // sends no will; the plugin reports the new connection before the old one's end.
    app_device second(s.broker_.uri(), opts);  // a fresh app session id
    second.connect();
    second.join("p1");
    REQUIRE(s.watch->wait_until([&](const auto&) {
        const auto d = s.watch->recorded_device("alice", "alice-phone");
        return d && d->session_id == second.session() && d->connection_seq > first_seq;
    }));
    CHECK(s.watch->wait_stat("outcome_lifecycle_disconnected_stale",
                             [](double v) { return v >= 1; }));

    // Past the grace period nothing happened to alice: no reconnecting, no back, no leave.
    std::this_thread::sleep_for(3s);
    s.watch->sync();
    CHECK(count_events(*s.watch, "p1", "alice", core::event_kind::reconnecting) == 0);
    CHECK(count_events(*s.watch, "p1", "alice", core::event_kind::back) == 0);
    CHECK(count_events(*s.watch, "p1", "alice", core::event_kind::left) == 0);
    for (const auto& snap : s.watch->snapshots("p1")) {
        CHECK(is_present(snap ? &*snap : nullptr, "alice"));
    }
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("plugin_broker_kill9_and_restart_keeps_who_comes_back_and_expires_the_rest") {
    stack s(plugin_stack_options("3s"));
    app_device alice(s.broker_.uri(), app_with_token("alice", "alice-phone"));
    app_device bob(s.broker_.uri(), app_with_token("bob", "bob-phone"));
    alice.connect();
    bob.connect();
    alice.join("p1");
    bob.join("p1");
    REQUIRE(s.watch->wait_snapshot("p1", [](const core::party_snapshot* p) {
        return is_present(p, "alice") && is_present(p, "bob");
    }));
    REQUIRE(s.watch->wait_stat("broker_epoch_changes", [](double v) { return v >= 1; }));

    // A crash: no wills, no lifecycle events, retained state since the last autosave lost.
    s.watch.reset();
    s.broker_.kill9();
    s.broker_.start();
    s.watch = std::make_unique<observer>(s.broker_.uri(), output_topics, controller_role_login());

    // The controller reconnects by itself and learns the new broker run from its retained epoch:
    // both members go reconnecting, with the grace period from now.
    REQUIRE(s.watch->wait_snapshot("p1", [](const core::party_snapshot* p) {
        return p != nullptr && p->members.size() == 2 && !is_present(p, "alice") &&
               !is_present(p, "bob");
    }));
    alice.reconnect();
    alice.join("p1");
    CHECK(s.watch->wait_event(
        "p1", [](const auto& e) { return event_of(e, "alice", core::event_kind::back); }));
    CHECK(s.watch->wait_event("p1", [](const auto& e) { return left_by_timeout(e, "bob"); }));
    CHECK(s.watch->wait_snapshot("p1", [](const core::party_snapshot* p) {
        return p != nullptr && p->members.size() == 1 && is_present(p, "alice");
    }));
    CHECK(s.watch->wait_stat("broker_epoch_changes", [](double v) { return v >= 2; }));
    CHECK(s.watch->wait_stat("reconciled_devices", [](double v) { return v >= 2; }));
    s.watch->sync();
    CHECK(count_events(*s.watch, "p1", "alice", core::event_kind::left) == 0);
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("plugin_keepalive_timeout_goes_reconnecting_then_left") {
    stack s(plugin_stack_options("2s"));
    raw_device phone(s.broker_.port(), raw_with_token("alice", "airplane", 1s));
    phone.connect();
    phone.announce();
    phone.join("p1");
    REQUIRE(s.watch->wait_snapshot(
        "p1", [](const core::party_snapshot* p) { return is_present(p, "alice"); }));
    phone.go_silent();  // the socket stays open: only the broker's keepalive can tell
    CHECK(s.watch->wait_event("p1", [](const core::party_event& e) {
        return event_of(e, "alice", core::event_kind::reconnecting);
    }));
    CHECK(s.watch->wait_event("p1", [](const auto& e) { return left_by_timeout(e, "alice"); }));
    CHECK(s.watch->wait_stat("inbound_lifecycle_disconnected", [](double v) { return v >= 1; }));
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("plugin_socket_error_goes_reconnecting_then_left") {
    stack s(plugin_stack_options("2s"));
    raw_device phone(s.broker_.port(), raw_with_token("alice", "tunnel", 30s));
    phone.connect();
    phone.announce();
    phone.join("p1");
    REQUIRE(s.watch->wait_snapshot(
        "p1", [](const core::party_snapshot* p) { return is_present(p, "alice"); }));
    phone.close();  // no DISCONNECT packet: the broker publishes the will and the plugin the end
    CHECK(s.watch->wait_event("p1", [](const core::party_event& e) {
        return event_of(e, "alice", core::event_kind::reconnecting);
    }));
    CHECK(s.watch->wait_event("p1", [](const auto& e) { return left_by_timeout(e, "alice"); }));
    // The will and the plugin's event report the same end: one applies, the other is a duplicate.
    CHECK(s.watch->wait_stat("inbound_lifecycle_disconnected", [](double v) { return v >= 1; }));
    CHECK(s.watch->wait_stat("inbound_will", [](double v) { return v >= 1; }));
    CHECK(count_events(*s.watch, "p1", "alice", core::event_kind::reconnecting) == 1);
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("plugin_controller_restart_with_the_same_broker_reconciles_nobody") {
    stack s(plugin_stack_options("2s"));
    app_device alice(s.broker_.uri(), app_with_token("alice", "alice-phone"));
    alice.connect();
    alice.join("p1");
    REQUIRE(s.watch->wait_snapshot(
        "p1", [](const core::party_snapshot* p) { return is_present(p, "alice"); }));
    REQUIRE(s.watch->wait_until([&](const auto&) {
        const auto d = s.watch->recorded_device("alice", "alice-phone");
        return d && d->broker_epoch != 0;
    }));
    s.controller_.kill9();
    s.controller_.start_ready();
    // The restarted controller starts with no epoch; the retained one names the run alice's
    // restored device recorded, so it switches to it without sending anyone reconnecting.
    // (Only the new run restored a party: from then on the latest stats are its own.)
    REQUIRE(s.watch->wait_stat("restored_parties", [](double v) { return v >= 1; }));
    REQUIRE(s.watch->wait_stat("broker_epoch_changes", [](double v) { return v >= 1; }));
    CHECK(s.watch->latest_stat("reconciled_devices") == 0);
    std::this_thread::sleep_for(3s);  // past the grace period
    s.watch->sync();
    CHECK(count_events(*s.watch, "p1", "alice", core::event_kind::reconnecting) == 0);
    CHECK(count_events(*s.watch, "p1", "alice", core::event_kind::left) == 0);
    const auto last = s.watch->latest_snapshot("p1");
    CHECK((last && is_present(&*last, "alice")));
    CHECK(stop_controller(s) == 0);
}
