// The plugin's connection census against a real mosquitto: a controller killed after Paho
// acknowledged lifecycle events (Paho acknowledges QoS 1 on receipt) never acts on them, and the
// broker will not send them again. Here a stand-in client drains the controller's persistent
// session while it is down, acknowledging every queued event the way the killed process had; the
// restarted controller must learn the broker's truth from the census alone.

#include <doctest/doctest.h>
#include <mqtt/async_client.h>

#include <chrono>
#include <thread>

#include "presence/testing/tokens.hpp"
#include "presence/wire/topics.hpp"
#include "stack.hpp"

using namespace presence;
using namespace presence::testing;
using namespace std::chrono_literals;

namespace {

// Resumes the controller's persistent session as the killed controller had, receives (and so
// acknowledges) everything queued for it, and leaves without acting on any of it. Returns how
// many lifecycle events it swallowed.
int swallow_controller_queue(const std::string& uri, const std::string& client_id) {
    mqtt::async_client client(uri, client_id, mqtt::create_options(MQTTVERSION_3_1_1));
    auto opts = mqtt::connect_options_builder()
                    .clean_session(false)
                    .user_name(std::string(controller_user))
                    .password(mint_test_token(controller_user, token::role::controller))
                    .finalize();
    client.start_consuming();
    client.connect(opts)->wait();
    int lifecycle = 0;
    auto idle_since = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - idle_since < 1500ms) {
        mqtt::const_message_ptr msg;
        if (client.try_consume_message_for(&msg, 100ms) && msg) {
            if (msg->get_topic().starts_with("presence/lifecycle/")) ++lifecycle;
            idle_since = std::chrono::steady_clock::now();
        }
    }
    client.disconnect()->wait();
    return lifecycle;
}

bool present(const observer& o, std::string_view user) {
    const auto snap = o.latest_snapshot("p1");
    return is_present(snap ? &*snap : nullptr, user);
}

bool recorded_on(const observer& o, const std::string& user, const std::string& device,
                 std::uint64_t min_seq) {
    const auto d = o.recorded_device(user, device);
    return d && d->connection_seq >= min_seq;
}

}  // namespace

TEST_CASE("census_heals_lifecycle_events_a_killed_controller_acknowledged_but_never_acted_on") {
    stack s(plugin_stack_options("3s"));
    app_device alice(s.broker_.uri(), app_with_token("alice", "alice-phone"));
    app_device bob(s.broker_.uri(), app_with_token("bob", "bob-phone"));
    alice.connect();
    alice.join("p1");
    bob.connect();
    bob.join("p1");
    REQUIRE(s.watch->wait_snapshot("p1", [](const core::party_snapshot* p) {
        return is_present(p, "alice") && is_present(p, "bob");
    }));
    REQUIRE(s.watch->wait_until([&](const auto&) {
        return recorded_on(*s.watch, "alice", "alice-phone", 1) &&
               recorded_on(*s.watch, "bob", "bob-phone", 1);
    }));
    const auto bob_seq = s.watch->recorded_device("bob", "bob-phone")->connection_seq;

    s.controller_.kill9();
    // While it is down: alice's connection ends (a clean DISCONNECT: no will, only the plugin's
    // disconnected event), and bob's phone reconnects on a new connection.
    alice.disconnect();
    bob.disconnect();
    bob.connect();
    std::this_thread::sleep_for(500ms);  // at least one broker tick: the events are published
    // Acknowledged and dropped, as by a controller killed right after Paho acked them.
    CHECK(swallow_controller_queue(s.broker_.uri(), "presence-controller") >= 3);

    s.controller_.start_ready();
    // Without the census alice would stay present forever (a ghost). With it she goes
    // reconnecting, then leaves by timeout after the 3 s grace.
    CHECK(s.watch->wait_event("p1", [](const core::party_event& e) {
        return e.member.user_id == "alice" && e.kind == core::event_kind::reconnecting;
    }));
    CHECK(s.watch->wait_event("p1", [](const core::party_event& e) {
        return e.member.user_id == "alice" && e.kind == core::event_kind::left &&
               e.reason == core::leave_reason::timeout;
    }));
    // bob's new connection is recorded from the census, and he never flickered.
    CHECK(s.watch->wait_until(
        [&](const auto&) { return recorded_on(*s.watch, "bob", "bob-phone", bob_seq + 1); }));
    CHECK(s.watch->wait_stat("outcome_broker_census_applied", [](double v) { return v >= 1; }));
    s.watch->sync();
    for (const auto& e : s.watch->events("p1")) {
        if (e.member.user_id != "bob") continue;
        CHECK(e.kind != core::event_kind::reconnecting);
        CHECK(e.kind != core::event_kind::left);
    }
    CHECK(s.watch->wait_snapshot("p1", [](const core::party_snapshot* p) {
        return p != nullptr && is_present(p, "bob") && find_member(p, "alice") == nullptr;
    }));
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("census_is_asked_for_by_the_controller_and_neither_forged_nor_read_by_apps") {
    stack s(plugin_stack_options("3s"));
    app_device alice(s.broker_.uri(), app_with_token("alice", "alice-phone"));
    alice.connect();
    alice.join("p1");
    REQUIRE(s.watch->wait_snapshot(
        "p1", [](const core::party_snapshot* p) { return is_present(p, "alice"); }));
    // The running controller subscribed at its connect: it got a census listing alice's phone.
    CHECK(s.watch->wait_stat("inbound_broker_census", [](double v) { return v >= 1; }));
    const auto before = s.watch->latest_stat("inbound_broker_census");

    // An app subscribing to the census is refused (and asks for none)...
    mqtt::async_client carol(s.broker_.uri(), "carol-phone",
                             mqtt::create_options(MQTTVERSION_3_1_1));
    auto opts = mqtt::connect_options_builder()
                    .user_name(std::string("carol"))
                    .password(mint_test_token("carol"))
                    .finalize();
    carol.start_consuming();
    carol.connect(opts)->wait();
    try {
        carol.subscribe(std::string(wire::broker_census_topic), 1)->wait();
    } catch (const mqtt::exception&) {
        // Paho reports the broker's refusal (0x80) as a failure: that is the expected outcome.
    }
    // ...and a forged census saying nobody is connected never reaches the controller.
    alice.publish(std::string(wire::broker_census_topic), wire::encode_census(1, 0, {}));
    std::this_thread::sleep_for(1500ms);
    s.watch->sync();
    CHECK(s.watch->latest_stat("inbound_broker_census") == before);
    CHECK(present(*s.watch, "alice"));

    // A restarted controller asks again; carol still receives nothing of it.
    s.controller_.kill9();
    s.controller_.start_ready();
    CHECK(s.watch->wait_stat("inbound_broker_census", [](double v) { return v >= 1; }));
    mqtt::const_message_ptr leaked;
    CHECK_FALSE((carol.try_consume_message_for(&leaked, 1000ms) && leaked));
    carol.disconnect()->wait();
    CHECK(present(*s.watch, "alice"));
    CHECK(stop_controller(s) == 0);
}
