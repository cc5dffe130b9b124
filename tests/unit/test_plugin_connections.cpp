// The plugin's connection table: the lifecycle events it emits, and their order, for every way
// a connection starts and ends.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "presence/plugin/auth.hpp"
#include "presence/plugin/connections.hpp"
#include "presence/plugin/events.hpp"
#include "presence/v1/presence.pb.h"

using namespace presence;
using namespace presence::plugin;

namespace {

int handles[8];
client_key c(int i) { return &handles[i]; }

connection_info app(std::string user, std::string device, std::int64_t exp = 2'000'000'000) {
    connection_info info;
    info.user = std::move(user);
    info.device = std::move(device);
    info.expires_s = exp;
    info.protocol_version = 4;
    info.keepalive_seconds = 30;
    return info;
}

// "+seq device" for connected, "-seq device end" for disconnected.
std::vector<std::string> trace(connection_table& t) {
    std::vector<std::string> out;
    for (const auto& e : t.take_events()) {
        std::string line = (e.connected ? "+" : "-") + std::to_string(e.seq) + " " + e.info.device;
        if (!e.connected) line += " " + std::to_string(static_cast<int>(e.end));
        out.push_back(line);
    }
    return out;
}

using lines = std::vector<std::string>;
constexpr std::int64_t t0 = 1'000'000'000'000'000;
constexpr int lost = 1, taken_over = 2, kicked = 3;

}  // namespace

TEST_CASE("connections_confirmed_at_the_tick_and_lost_on_disconnect") {
    connection_table t;
    t.on_authenticated(c(0), app("alice", "phone"), t0);
    CHECK(trace(t).empty());  // pending until the next tick
    t.on_tick(t0 + 1);
    CHECK(trace(t) == lines{"+1 phone"});
    t.on_disconnect(c(0), t0 + 2);
    CHECK(trace(t) == lines{"-1 phone " + std::to_string(lost)});
    CHECK(t.live_count() == 0);
}

TEST_CASE("connections_dead_before_the_tick_still_get_connected_then_disconnected") {
    connection_table t;
    t.on_authenticated(c(0), app("alice", "phone"), t0);
    t.on_authenticated(c(1), app("bob", "tab"), t0);
    t.on_disconnect(c(1), t0 + 1);
    // Both pending connections are announced first, in seq order, then bob's end.
    CHECK(trace(t) == lines{"+1 phone", "+2 tab", "-2 tab 1"});
    t.on_tick(t0 + 2);
    CHECK(trace(t).empty());
}

TEST_CASE("connections_takeover_announces_the_new_connection_before_the_old_ends") {
    connection_table t;
    t.on_authenticated(c(0), app("alice", "phone"), t0);
    t.on_tick(t0);
    CHECK(trace(t) == lines{"+1 phone"});
    // The new connection authenticates, then the broker disconnects the old one.
    t.on_authenticated(c(1), app("alice", "phone"), t0 + 1);
    t.on_disconnect(c(0), t0 + 2);
    CHECK(trace(t) == lines{"+2 phone", "-1 phone " + std::to_string(taken_over)});
    CHECK(t.live_count() == 1);
    t.on_disconnect(c(1), t0 + 3);
    CHECK(trace(t) == lines{"-2 phone 1"});
}

TEST_CASE("connections_second_disconnect_and_unknown_clients_are_ignored") {
    connection_table t;
    t.on_disconnect(c(3), t0);  // failed auth: never admitted
    t.on_authenticated(c(0), app("alice", "phone"), t0);
    t.on_disconnect(c(0), t0 + 1);
    t.on_disconnect(c(0), t0 + 2);
    CHECK(trace(t) == lines{"+1 phone", "-1 phone 1"});
}

TEST_CASE("connections_dead_entry_keeps_its_role_until_the_tick_for_the_will_acl") {
    connection_table t;
    connection_info ctl = app("presence-controller", "presence-controller");
    ctl.role = token::role::controller;
    t.on_authenticated(c(0), ctl, t0);
    CHECK_FALSE(t.ended(c(0)));
    t.on_disconnect(c(0), t0 + 1);
    REQUIRE(t.find(c(0)) != nullptr);
    CHECK(t.find(c(0))->role == token::role::controller);
    CHECK(t.ended(c(0)));
    t.on_tick(t0 + 2);
    CHECK(t.find(c(0)) == nullptr);
    CHECK(trace(t).empty());  // controllers produce no lifecycle events
}

TEST_CASE("connections_offline_controller_session_keeps_its_role_for_queued_reads") {
    // Mosquitto checks READ when it queues a message for an offline persistent session; the
    // controller's inbound queue must fill while it is down (found by the compose test).
    connection_table t;
    connection_info ctl = app("presence-controller", "presence-controller");
    ctl.role = token::role::controller;
    ctl.clean_session = false;
    t.on_authenticated(c(0), ctl, t0);
    CHECK(t.offline_session_role("presence-controller", "presence-controller") == nullptr);
    t.on_disconnect(c(0), t0 + 1);
    t.on_tick(t0 + 2);
    REQUIRE(t.find(c(0)) == nullptr);
    const token::role* role = t.offline_session_role("presence-controller", "presence-controller");
    REQUIRE(role != nullptr);
    CHECK(*role == token::role::controller);
    // Only for the user who owns the session, and never for an app's session.
    CHECK(t.offline_session_role("presence-controller", "mallory") == nullptr);
    connection_info phone = app("alice", "phone");
    phone.clean_session = false;
    t.on_authenticated(c(1), phone, t0 + 3);
    t.on_disconnect(c(1), t0 + 4);
    CHECK(t.offline_session_role("phone", "alice") == nullptr);
    // A clean session discards the stored session, and its role with it.
    ctl.clean_session = true;
    t.on_authenticated(c(2), ctl, t0 + 5);
    t.on_disconnect(c(2), t0 + 6);
    CHECK(t.offline_session_role("presence-controller", "presence-controller") == nullptr);
}

TEST_CASE("connections_of_observers_produce_no_lifecycle_events") {
    connection_table t;
    connection_info ops = app("ops", "presencectl-1");
    ops.role = token::role::observer;
    t.on_authenticated(c(0), ops, t0);
    t.on_authenticated(c(1), app("alice", "phone"), t0);
    t.on_tick(t0 + 1);
    t.on_disconnect(c(0), t0 + 2);
    t.on_disconnect(c(1), t0 + 3);
    t.on_tick(t0 + 4);
    CHECK(trace(t) == lines{"+1 phone", "-1 phone 1"});  // the observer is never a device
}

TEST_CASE("connections_reused_pointer_is_a_new_connection") {
    connection_table t;
    t.on_authenticated(c(0), app("alice", "phone"), t0);
    t.on_disconnect(c(0), t0 + 1);
    t.on_authenticated(c(0), app("bob", "tab"), t0 + 2);
    t.on_tick(t0 + 3);
    CHECK(trace(t) == lines{"+1 phone", "-1 phone 1", "+2 tab"});
    REQUIRE(t.find(c(0)) != nullptr);
    CHECK(t.find(c(0))->user == "bob");
}

TEST_CASE("connections_expired_tokens_are_kicked_at_the_tick") {
    connection_table t;
    t.on_authenticated(c(0), app("alice", "phone", 1000), t0);
    t.on_authenticated(c(1), app("bob", "tab", 5000), t0);
    CHECK(t.on_tick(999'000'000).empty());
    CHECK(trace(t) == lines{"+1 phone", "+2 tab"});
    CHECK(t.on_tick(1000'000'000) == std::vector<std::string>{"phone"});
    CHECK(t.on_tick(1001'000'000).empty());  // asked once only
    t.on_disconnect(c(0), 1002'000'000);     // what the kick causes
    CHECK(trace(t) == lines{"-1 phone " + std::to_string(kicked)});
}

TEST_CASE("connections_another_users_live_device_id_is_refused") {
    connection_table t;
    t.on_authenticated(c(0), app("alice", "phone"), t0);
    CHECK(t.check(app("mallory", "phone")) == admission::device_held_by_other_user);
    CHECK(t.check(app("alice", "phone")) == admission::ok);
    t.on_disconnect(c(0), t0 + 1);
    CHECK(t.check(app("mallory", "phone")) == admission::ok);
}

TEST_CASE("connections_another_users_persistent_session_cannot_be_resumed") {
    connection_table t;
    connection_info ctl = app("presence-controller", "presence-controller");
    ctl.role = token::role::controller;
    ctl.clean_session = false;
    t.on_authenticated(c(0), ctl, t0);
    t.on_disconnect(c(0), t0 + 1);
    t.on_tick(t0 + 2);
    // Offline, but its session (and queued messages) lives on in the broker.
    CHECK(t.check(app("mallory", "presence-controller")) == admission::session_owned_by_other_user);
    CHECK(t.check(ctl) == admission::ok);
    // A clean session by its owner discards the stored session: the id is free again.
    connection_info clean = ctl;
    clean.clean_session = true;
    t.on_authenticated(c(1), clean, t0 + 3);
    t.on_disconnect(c(1), t0 + 4);
    CHECK(t.check(app("mallory", "presence-controller")) == admission::ok);
}

TEST_CASE("authenticate_checks_identifiers_before_the_token") {
    const std::string key = "unit-test-key-0123456789abcdef0123456789";
    const std::int64_t now = 1'800'000'000;
    const std::string tok = token::mint_token(key, "alice", now + 60);
    CHECK(authenticate(key, "alice", "phone", tok.c_str(), now).ok());
    CHECK(authenticate(key, nullptr, "phone", tok.c_str(), now).why == refusal::bad_username);
    CHECK(authenticate(key, "al/ice", "phone", tok.c_str(), now).why == refusal::bad_username);
    CHECK(authenticate(key, "alice", "ph+one", tok.c_str(), now).why == refusal::bad_client_id);
    CHECK(authenticate(key, "alice", std::string(65, 'p').c_str(), tok.c_str(), now).why ==
          refusal::bad_client_id);
    const auto none = authenticate(key, "alice", "phone", nullptr, now);
    CHECK(none.why == refusal::bad_token);
    CHECK(none.token_error == token::error::missing);
    CHECK(describe(none) == "missing_token");
}

TEST_CASE("lifecycle_events_encode_as_connection_events_on_their_topics") {
    lifecycle_event e;
    e.connected = false;
    e.seq = 7;
    e.info = app("alice", "phone");
    e.info.protocol_version = 5;
    e.end = connection_end::taken_over;
    e.at_us = 1'700'000'000'123'456;
    CHECK(lifecycle_topic(e) == "presence/lifecycle/disconnected/alice/phone");
    v1::ConnectionEvent msg;
    REQUIRE(msg.ParseFromString(encode(e, 42)));
    CHECK(msg.broker_epoch() == 42);
    CHECK(msg.connection_seq() == 7);
    CHECK(msg.user_id() == "alice");
    CHECK(msg.device_id() == "phone");
    CHECK(msg.end() == v1::CONNECTION_END_TAKEN_OVER);
    CHECK(msg.at().seconds() == 1'700'000'000);
    CHECK(msg.at().nanos() == 123'456'000);
    CHECK(msg.protocol_version() == 5);
    CHECK(msg.keepalive_seconds() == 30);
    e.connected = true;
    CHECK(lifecycle_topic(e) == "presence/lifecycle/connected/alice/phone");
    REQUIRE(msg.ParseFromString(encode(e, 42)));
    CHECK(msg.end() == v1::CONNECTION_END_UNSPECIFIED);

    v1::BrokerEpoch epoch;
    REQUIRE(epoch.ParseFromString(encode_epoch(99, e.at_us, "0.1.0")));
    CHECK(epoch.broker_epoch() == 99);
    CHECK(epoch.plugin_version() == "0.1.0");
    CHECK(make_epoch(0, 0) != 0);
    CHECK(make_epoch(t0, 1) != make_epoch(t0, 2));
    CHECK(make_epoch(t0, 1) != make_epoch(t0 + 1, 1));
}

TEST_CASE("connections_census_lists_the_open_app_connections_once_per_request") {
    connection_table t;
    CHECK_FALSE(t.take_census(t0).has_value());
    t.on_authenticated(c(0), app("alice", "phone"), t0);
    t.on_authenticated(c(1), app("bob", "tab"), t0);
    t.on_authenticated(c(2), app("carol", "laptop"), t0);
    t.on_tick(t0);
    t.on_disconnect(c(1), t0);
    connection_info ctl = app("presence", "presence-controller");
    ctl.role = token::role::controller;
    t.on_authenticated(c(3), ctl, t0);
    t.request_census();
    // A connection accepted but not yet confirmed has no connected event: not in the census.
    t.on_authenticated(c(4), app("dave", "phone-d"), t0);
    auto census = t.take_census(t0 + 5);
    REQUIRE(census.has_value());
    CHECK(census->last_seq == 3);
    CHECK(census->at_us == t0 + 5);
    REQUIRE(census->open.size() == 2);
    CHECK(census->open[0].device == "phone");
    CHECK(census->open[0].seq == 1);
    CHECK(census->open[1].user == "carol");
    CHECK(census->open[1].seq == 3);
    CHECK_FALSE(t.take_census(t0 + 6).has_value());
    // After the tick confirms dave, the next census covers him.
    t.on_tick(t0 + 7);
    t.request_census();
    census = t.take_census(t0 + 8);
    REQUIRE(census.has_value());
    CHECK(census->last_seq == 4);
    CHECK(census->open.size() == 3);
}

TEST_CASE("connections_census_encodes_as_a_connection_census") {
    census c;
    c.last_seq = 9;
    c.at_us = t0;
    c.open.push_back({"alice", "phone", 4});
    v1::ConnectionCensus msg;
    REQUIRE(msg.ParseFromString(encode_census(c, 77, t0 - 1'000'000)));
    CHECK(msg.broker_epoch() == 77);
    CHECK(msg.last_connection_seq() == 9);
    REQUIRE(msg.connections_size() == 1);
    CHECK(msg.connections(0).user_id() == "alice");
    CHECK(msg.connections(0).device_id() == "phone");
    CHECK(msg.connections(0).connection_seq() == 4);
    CHECK(msg.started_at().seconds() == (t0 - 1'000'000) / 1'000'000);
}
