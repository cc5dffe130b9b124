// Inbound decoding of the plugin's broker lifecycle messages: the topic shapes, identity and
// numbering checks, JSON payloads, and dispatch into the engine's lifecycle inputs.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "presence/core/engine.hpp"
#include "presence/v1/presence.pb.h"
#include "presence/wire/wire.hpp"

namespace presence::wire {
namespace {

using namespace std::chrono_literals;

const core::device_key alice_phone{"alice", "phone"};
const core::time_point t0{std::chrono::milliseconds{1'700'000'000'000}};

std::error_code decode(std::string_view topic, std::string_view payload, inbound& out) {
    return decode_inbound(topic, payload, out);
}

std::string event_payload(std::string user, std::string device, std::uint64_t epoch,
                          std::uint64_t seq, v1::ConnectionEnd end = v1::CONNECTION_END_LOST) {
    v1::ConnectionEvent e;
    e.set_user_id(std::move(user));
    e.set_device_id(std::move(device));
    e.set_broker_epoch(epoch);
    e.set_connection_seq(seq);
    e.set_end(end);
    e.set_protocol_version(4);
    e.set_keepalive_seconds(30);
    e.mutable_at()->set_seconds(1'700'000'000);
    return e.SerializeAsString();
}

}  // namespace

TEST_CASE("lifecycle topics decode to their kinds with epoch, sequence and end") {
    inbound msg;
    const auto connected_topic = inbound_topic(inbound_kind::lifecycle_connected, alice_phone);
    CHECK(connected_topic == "presence/lifecycle/connected/alice/phone");
    REQUIRE_FALSE(decode(connected_topic, event_payload("alice", "phone", 9, 4), msg));
    CHECK(msg.kind == inbound_kind::lifecycle_connected);
    CHECK(msg.device == alice_phone);
    CHECK(msg.broker_epoch == 9);
    CHECK(msg.connection_seq == 4);
    CHECK(msg.end == core::connection_end::unspecified);  // only disconnected events carry one

    const auto disconnected_topic =
        inbound_topic(inbound_kind::lifecycle_disconnected, alice_phone);
    CHECK(disconnected_topic == "presence/lifecycle/disconnected/alice/phone");
    const std::pair<v1::ConnectionEnd, core::connection_end> ends[] = {
        {v1::CONNECTION_END_LOST, core::connection_end::lost},
        {v1::CONNECTION_END_TAKEN_OVER, core::connection_end::taken_over},
        {v1::CONNECTION_END_KICKED, core::connection_end::kicked},
        {v1::CONNECTION_END_UNSPECIFIED, core::connection_end::unspecified},
        {static_cast<v1::ConnectionEnd>(77), core::connection_end::unspecified},
    };
    for (const auto& [wire_end, core_end] : ends) {
        REQUIRE_FALSE(
            decode(disconnected_topic, event_payload("alice", "phone", 9, 4, wire_end), msg));
        CHECK(msg.kind == inbound_kind::lifecycle_disconnected);
        CHECK(msg.end == core_end);
        CHECK(msg.connection_seq == 4);
    }

    CHECK(inbound_topic(inbound_kind::broker_epoch, alice_phone) == "presence/broker/epoch");
    REQUIRE_FALSE(decode("presence/broker/epoch", encode_broker_epoch(0xfedcba9876543210ULL), msg));
    CHECK(msg.kind == inbound_kind::broker_epoch);
    CHECK(msg.broker_epoch == 0xfedcba9876543210ULL);
    CHECK(msg.device == core::device_key{});
}

TEST_CASE("the project's encoders produce what the decoder accepts") {
    inbound msg;
    REQUIRE_FALSE(
        decode("presence/lifecycle/disconnected/alice/phone",
               encode_connection_event(alice_phone, 3, 5, core::connection_end::taken_over), msg));
    CHECK(msg.broker_epoch == 3);
    CHECK(msg.connection_seq == 5);
    CHECK(msg.end == core::connection_end::taken_over);
}

TEST_CASE("lifecycle payloads are accepted as JSON too") {
    inbound msg;
    REQUIRE_FALSE(decode("presence/lifecycle/disconnected/alice/phone",
                         R"({"broker_epoch":"12","connection_seq":"3","user_id":"alice",)"
                         R"("device_id":"phone","end":"CONNECTION_END_KICKED"})",
                         msg));
    CHECK(msg.broker_epoch == 12);
    CHECK(msg.end == core::connection_end::kicked);
    REQUIRE_FALSE(decode("presence/broker/epoch", R"({"broker_epoch":"44"})", msg));
    CHECK(msg.broker_epoch == 44);
}

TEST_CASE("a lifecycle event naming another identity than its topic is identity_mismatch") {
    inbound msg;
    const std::string topic = "presence/lifecycle/connected/alice/phone";
    CHECK(decode(topic, event_payload("mallory", "phone", 1, 1), msg) ==
          std::error_code(error::identity_mismatch));
    CHECK(decode(topic, event_payload("alice", "laptop", 1, 1), msg) ==
          std::error_code(error::identity_mismatch));
    // An empty payload names nobody.
    CHECK(decode(topic, "", msg) == std::error_code(error::identity_mismatch));
}

TEST_CASE("a lifecycle event or epoch without its numbers is bad_payload") {
    inbound msg;
    const std::string topic = "presence/lifecycle/disconnected/alice/phone";
    CHECK(decode(topic, event_payload("alice", "phone", 0, 1), msg) ==
          std::error_code(error::bad_payload));
    CHECK(decode(topic, event_payload("alice", "phone", 1, 0), msg) ==
          std::error_code(error::bad_payload));
    CHECK(decode(topic, "\xff\xff", msg) == std::error_code(error::bad_payload));
    CHECK(decode("presence/broker/epoch", "", msg) == std::error_code(error::bad_payload));
    CHECK(decode("presence/broker/epoch", encode_broker_epoch(0), msg) ==
          std::error_code(error::bad_payload));
    CHECK(decode("presence/broker/epoch", R"({"broker_epoch":"1","x":1})", msg) ==
          std::error_code(error::bad_payload));
}

TEST_CASE("malformed lifecycle topics are bad_topic or bad_identifier") {
    inbound msg;
    const auto payload = event_payload("alice", "phone", 1, 1);
    CHECK(decode("presence/lifecycle/opened/alice/phone", payload, msg) ==
          std::error_code(error::bad_topic));
    CHECK(decode("presence/lifecycle/connected/alice", payload, msg) ==
          std::error_code(error::bad_topic));
    CHECK(decode("presence/lifecycle/connected/alice/phone/x", payload, msg) ==
          std::error_code(error::bad_topic));
    CHECK(decode("presence/broker/epoch/x", encode_broker_epoch(1), msg) ==
          std::error_code(error::bad_topic));
    CHECK(decode("presence/broker/epochs", encode_broker_epoch(1), msg) ==
          std::error_code(error::bad_topic));
    CHECK(decode("presence/lifecycle/connected/al+ice/phone", payload, msg) ==
          std::error_code(error::bad_identifier));
}

TEST_CASE("apply feeds lifecycle messages to the engine's lifecycle inputs") {
    core::engine engine(core::engine_config{.grace = 2min});
    auto feed = [&](std::string_view topic, std::string_view payload, core::time_point now) {
        inbound msg;
        const auto ec = decode_inbound(topic, payload, msg);
        INFO(topic, ": ", ec.message());
        REQUIRE_FALSE(ec);
        return apply(engine, msg, now);
    };
    CHECK(feed("presence/broker/epoch", encode_broker_epoch(5), t0) == core::outcome::applied);
    CHECK(engine.broker_epoch() == 5);
    CHECK(feed("presence/lifecycle/connected/alice/phone",
               encode_connection_event(alice_phone, 5, 1), t0) == core::outcome::applied);
    REQUIRE(engine.user("alice"));
    CHECK(engine.user("alice")->online);
    CHECK(engine.user("alice")->devices.at(0).connection_seq == 1);
    CHECK(feed("presence/lifecycle/disconnected/alice/phone",
               encode_connection_event(alice_phone, 5, 1, core::connection_end::lost),
               t0 + 1s) == core::outcome::applied);
    CHECK_FALSE(engine.user("alice")->online);
    CHECK(engine.user("alice")->devices.at(0).state == core::device_state::reconnecting);
}

TEST_CASE("a census decodes to its epoch, last sequence and open connections") {
    const std::vector<core::census_entry> open{{alice_phone, 2}, {{"bob", "tab"}, 5}};
    inbound msg;
    REQUIRE_FALSE(decode("presence/broker/census", encode_census(9, 6, open, t0), msg));
    CHECK(msg.kind == inbound_kind::broker_census);
    CHECK(msg.broker_epoch == 9);
    CHECK(msg.connection_seq == 6);
    CHECK(msg.broker_time == t0);
    CHECK(msg.census == open);
    // JSON works as for every inbound message.
    REQUIRE_FALSE(decode("presence/broker/census",
                         R"({"broker_epoch":"3","last_connection_seq":"1","connections":[)"
                         R"({"user_id":"a","device_id":"d","connection_seq":"1"}]})",
                         msg));
    CHECK(msg.census == std::vector<core::census_entry>{{{"a", "d"}, 1}});
    // A census without connections is a census of nobody.
    REQUIRE_FALSE(decode("presence/broker/census", encode_census(9, 6, {}), msg));
    CHECK(msg.census.empty());
}

TEST_CASE("a malformed census is rejected with its reason") {
    inbound msg;
    CHECK(decode("presence/broker/census", encode_census(0, 1, {}), msg) == error::bad_payload);
    CHECK(decode("presence/broker/census", encode_census(9, 1, {{alice_phone, 2}}), msg) ==
          error::bad_payload);  // beyond its own last sequence
    CHECK(decode("presence/broker/census", encode_census(9, 3, {{alice_phone, 0}}), msg) ==
          error::bad_payload);
    CHECK(decode("presence/broker/census", encode_census(9, 3, {{{"a/b", "d"}, 1}}), msg) ==
          error::bad_identifier);
    CHECK(decode("presence/broker/census", "\xff\xff", msg) == error::bad_payload);
    CHECK(decode("presence/broker/census/x", "", msg) == error::bad_topic);
    // Its own size bound, far above the 16 KiB of app messages, and still a bound.
    CHECK(decode_inbound("presence/broker/census", std::string(40'000, 'x'), msg) ==
          error::bad_payload);
    CHECK(decode_inbound("presence/broker/census", std::string(40'000, 'x'), msg,
                         limits{.max_payload_bytes = 16 * 1024, .max_census_bytes = 1024}) ==
          error::payload_too_large);
}

TEST_CASE("apply feeds a census to the engine") {
    core::engine engine(core::engine_config{.grace = 2min});
    engine.on_broker_epoch(5, t0);
    engine.on_connection_opened(alice_phone, 5, 1, t0);
    inbound msg;
    REQUIRE_FALSE(decode("presence/broker/census", encode_census(5, 1, {}), msg));
    CHECK(apply(engine, msg, t0 + 1s) == core::outcome::applied);
    CHECK(engine.user("alice")->devices.at(0).state == core::device_state::reconnecting);
}

}  // namespace presence::wire
