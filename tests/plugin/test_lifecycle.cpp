// Lifecycle events of the presence plugin, as the controller sees them, for every way a
// connection starts and ends, with a real mosquitto loading the built plugin.

#include <doctest/doctest.h>

#include "fixture.hpp"

using namespace presence;
using namespace presence::testing;

namespace {

constexpr auto patience = std::chrono::seconds(30);

bool wait_events(const observer& o, const std::string& device, std::size_t n) {
    return o.wait_until([&](const auto&) { return events_of(o, device).size() >= n; }, patience);
}

std::vector<std::uint64_t> epochs(const observer& o) {
    std::vector<std::uint64_t> out;
    for (const auto& m : o.messages_on("presence/broker/epoch")) {
        v1::BrokerEpoch e;
        if (e.ParseFromString(m.payload)) out.push_back(e.broker_epoch());
    }
    return out;
}

// Connected then disconnected(LOST) with the same seq and epoch: what a lost connection shows.
void check_connected_then_lost(const std::vector<seen_event>& ev, const std::string& user) {
    REQUIRE(ev.size() == 2);
    CHECK(ev[0].connected);
    CHECK_FALSE(ev[1].connected);
    CHECK(ev[0].user == user);
    CHECK(ev[0].seq == ev[1].seq);
    CHECK(ev[0].seq > 0);
    CHECK(ev[0].epoch == ev[1].epoch);
    CHECK(ev[0].epoch != 0);
    CHECK(ev[1].end == v1::CONNECTION_END_LOST);
}

}  // namespace

TEST_CASE("lifecycle_keepalive_timeout_is_reported_lost") {
    broker b(dev_broker());
    observer ctl(b.uri(), {"presence/lifecycle/#"}, controller_login());
    raw_device phone(b.port(), raw_login("alice", "airplane", std::chrono::seconds(1)));
    phone.connect();
    phone.go_silent();  // socket stays open: only the broker's keepalive can tell
    REQUIRE(wait_events(ctl, "airplane", 2));
    check_connected_then_lost(events_of(ctl, "airplane"), "alice");
}

TEST_CASE("lifecycle_socket_error_is_reported_lost") {
    broker b(dev_broker());
    observer ctl(b.uri(), {"presence/lifecycle/#"}, controller_login());
    raw_device phone(b.port(), raw_login("alice", "tunnel"));
    phone.connect();
    REQUIRE(wait_events(ctl, "tunnel", 1));
    phone.close();  // no DISCONNECT packet
    REQUIRE(wait_events(ctl, "tunnel", 2));
    check_connected_then_lost(events_of(ctl, "tunnel"), "alice");
}

TEST_CASE("lifecycle_clean_v311_disconnect_without_will_is_still_reported") {
    broker b(dev_broker());
    observer ctl(b.uri(), {"presence/lifecycle/#", "presence/will/#"}, controller_login());
    app_device phone(b.uri(), app_login("alice", "clean311"));
    phone.connect();
    phone.disconnect();  // MQTT 3.1.1 DISCONNECT: the broker sends no will
    REQUIRE(wait_events(ctl, "clean311", 2));
    const auto ev = events_of(ctl, "clean311");
    check_connected_then_lost(ev, "alice");
    CHECK(ev[0].protocol_version == 4);
    ctl.sync();
    CHECK(ctl.messages_on("presence/will/alice/clean311").empty());
}

TEST_CASE("lifecycle_clean_v5_disconnect_is_reported") {
    broker b(dev_broker());
    observer ctl(b.uri(), {"presence/lifecycle/#"}, controller_login());
    // mosquitto_pub speaks MQTT 5, publishes, and ends with a normal v5 DISCONNECT (reason 0).
    const int rc = run_to_completion(
        {"/usr/bin/mosquitto_pub", "-V", "mqttv5", "-h", "127.0.0.1", "-p",
         std::to_string(b.port()), "-i", "v5phone", "-u", "alice", "-P", mint_test_token("alice"),
         "-q", "1", "-t", "presence/connect/alice/v5phone", "-m", "{}"},
        b.dir() / "mosquitto_pub.log");
    REQUIRE(rc == 0);
    REQUIRE(wait_events(ctl, "v5phone", 2));
    const auto ev = events_of(ctl, "v5phone");
    check_connected_then_lost(ev, "alice");
    CHECK(ev[0].protocol_version == 5);
}

TEST_CASE("lifecycle_persistent_session_takeover_announces_new_before_old_ends") {
    broker b(dev_broker());
    observer ctl(b.uri(), {"presence/lifecycle/#"}, controller_login());
    app_options opts = app_login("alice", "same-id");
    opts.clean_session = false;
    app_device first(b.uri(), opts);
    first.connect();
    REQUIRE(wait_events(ctl, "same-id", 1));
    app_device second(b.uri(), opts);
    second.connect();  // same client id: the broker closes the first connection
    REQUIRE(wait_events(ctl, "same-id", 3));
    auto ev = events_of(ctl, "same-id");
    REQUIRE(ev.size() == 3);
    CHECK(ev[0].connected);
    CHECK(ev[1].connected);
    CHECK(ev[1].seq > ev[0].seq);
    CHECK_FALSE(ev[2].connected);
    CHECK(ev[2].seq == ev[0].seq);
    CHECK(ev[2].end == v1::CONNECTION_END_TAKEN_OVER);
    second.disconnect();
    REQUIRE(wait_events(ctl, "same-id", 4));
    ev = events_of(ctl, "same-id");
    CHECK(ev[3].seq == ev[1].seq);
    CHECK(ev[3].end == v1::CONNECTION_END_LOST);
}

TEST_CASE("lifecycle_expired_token_is_kicked") {
    broker b(dev_broker());
    observer ctl(b.uri(), {"presence/lifecycle/#"}, controller_login());
    // Long enough to connect on a busy machine, short enough to expire during the test.
    app_device phone(b.uri(), app_login("alice", "short-lived", std::chrono::seconds(4)));
    phone.connect();
    REQUIRE(wait_events(ctl, "short-lived", 2));
    const auto ev = events_of(ctl, "short-lived");
    REQUIRE(ev.size() == 2);
    CHECK(ev[0].connected);
    CHECK(ev[1].seq == ev[0].seq);
    CHECK(ev[1].end == v1::CONNECTION_END_KICKED);
    CHECK(ctl.wait_until([&](const auto&) { return !phone.connected(); }, patience));
}

TEST_CASE("lifecycle_failed_auth_produces_no_event") {
    broker b(dev_broker());
    observer ctl(b.uri(), {"presence/lifecycle/#"}, controller_login());
    raw_device_options bad = raw_login("alice", "refused");
    bad.password = mint_test_token("someone-else");
    raw_device refused(b.port(), bad);
    CHECK(refused.try_connect() == 5);
    refused.close();
    // A later, good connection is the marker: once its event is here, the refused one's would be.
    raw_device marker(b.port(), raw_login("bob", "marker"));
    marker.connect();
    REQUIRE(wait_events(ctl, "marker", 1));
    ctl.sync();
    CHECK(events_of(ctl, "refused").empty());
    CHECK(lifecycle_events(ctl).size() == 1);
}

TEST_CASE("lifecycle_controller_role_connections_produce_no_events") {
    broker b(dev_broker());
    observer ctl(b.uri(), {"presence/lifecycle/#"}, controller_login());
    { observer another(b.uri(), {"presence/controller/status"}, controller_login("ctl-2")); }
    raw_device marker(b.port(), raw_login("bob", "marker"));
    marker.connect();
    REQUIRE(wait_events(ctl, "marker", 1));
    CHECK(events_of(ctl, "ctl-2").empty());
}

TEST_CASE("lifecycle_broker_kill9_and_restart_publishes_a_new_retained_epoch") {
    broker b(dev_broker());
    // The epoch a fresh subscriber finds retained, once the run has published it (the plugin
    // publishes it before the first lifecycle event, so one device connecting is enough).
    const auto retained_epoch = [&](const std::string& device) {
        {
            observer ctl(b.uri(), {"presence/lifecycle/#"}, controller_login());
            raw_device phone(b.port(), raw_login("alice", device));
            phone.connect();
            REQUIRE(wait_events(ctl, device, 1));
            CHECK(events_of(ctl, device)[0].seq == 1);  // the first connection of this run
        }
        observer fresh(b.uri(), {"presence/broker/epoch"}, controller_login());
        REQUIRE(fresh.wait_until([&](const auto&) { return !epochs(fresh).empty(); }, patience));
        fresh.sync();
        const auto all = fresh.messages_on("presence/broker/epoch");
        REQUIRE(all.size() == 1);
        CHECK(all[0].retained);
        return epochs(fresh).front();
    };
    const std::uint64_t first = retained_epoch("before-crash");
    CHECK(first != 0);
    b.kill9();
    b.start();
    const std::uint64_t second = retained_epoch("after-crash");
    CHECK(second != 0);
    CHECK(second != first);
}
