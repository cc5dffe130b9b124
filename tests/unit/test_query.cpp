// The query protocol (wire) and the controller's query serving, without a broker: topic and
// reply-space rules, request validation, response codecs, and answers from a real engine.

#include <doctest/doctest.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <chrono>
#include <string>
#include <vector>

#include "presence/core/engine.hpp"
#include "presence/host/query.hpp"
#include "presence/v1/presence.pb.h"
#include "presence/wire/query.hpp"
#include "test_wire_random.hpp"

using namespace presence;
using namespace std::chrono_literals;
using wire::query_kind;
using wire::query_status;

namespace {

const core::device_key carol{"carol", "carol-phone"};

std::string reference_json(const std::string& binary) {
    v1::QueryResponse message;
    REQUIRE(message.ParseFromString(binary));
    google::protobuf::util::JsonPrintOptions options;
    options.always_print_primitive_fields = true;
    options.preserve_proto_field_names = true;
    std::string json;
    REQUIRE(google::protobuf::util::MessageToJsonString(message, &json, options).ok());
    return json;
}

bool operator_eq(const wire::query_response& a, const wire::query_response& b) {
    if (a.status != b.status || a.error != b.error || a.result.index() != b.result.index()) {
        return false;
    }
    if (const auto* x = std::get_if<std::vector<core::user_presence>>(&a.result)) {
        return *x == std::get<std::vector<core::user_presence>>(b.result);
    }
    if (const auto* x = std::get_if<wire::user_devices>(&a.result)) {
        const auto& y = std::get<wire::user_devices>(b.result);
        return x->user_id == y.user_id && x->online == y.online && x->devices == y.devices;
    }
    if (const auto* x = std::get_if<wire::user_parties>(&a.result)) {
        const auto& y = std::get<wire::user_parties>(b.result);
        return x->user_id == y.user_id && x->party_ids == y.party_ids;
    }
    if (const auto* x = std::get_if<core::party_snapshot>(&a.result)) {
        return *x == std::get<core::party_snapshot>(b.result);
    }
    return true;
}

std::vector<wire::query_response> random_responses(wire::testing::rng& r) {
    std::vector<wire::query_response> out;
    wire::query_response presence;
    std::vector<core::user_presence> users;
    for (std::size_t i = r.index(4); i > 0; --i) users.push_back(wire::testing::random_user(r));
    presence.result = std::move(users);
    out.push_back(std::move(presence));

    wire::query_response devices;
    auto user = wire::testing::random_user(r);
    devices.result = wire::user_devices{user.user_id, user.online, user.devices};
    out.push_back(std::move(devices));

    wire::query_response parties;
    parties.result = wire::user_parties{user.user_id, user.parties};
    out.push_back(std::move(parties));

    wire::query_response members;
    members.result = wire::testing::random_snapshot(r);
    out.push_back(std::move(members));

    wire::query_response error;
    error.status = r.coin() ? query_status::bad_request : query_status::too_large;
    error.error = wire::testing::random_text(r, 200);
    out.push_back(std::move(error));
    return out;
}

// An engine where alice (one phone) is in p1, and bob (phone) in p1 and p2.
core::engine populated_engine() {
    core::engine engine;
    const core::time_point t0{std::chrono::milliseconds{1'700'000'000'000}};
    engine.on_connect({"alice", "alice-phone"}, "s-a", {"Alice", "", ""}, t0);
    engine.on_connect({"bob", "bob-phone"}, "s-b", {"Bob", "", ""}, t0);
    engine.on_join("p1", {"alice", "alice-phone"}, "", t0 + 1ms);
    engine.on_join("p1", {"bob", "bob-phone"}, "", t0 + 2ms);
    engine.on_join("p2", {"bob", "bob-phone"}, "", t0 + 3ms);
    engine.take_effects();
    return engine;
}

host::query_answer ask(
    const core::engine& engine, const std::string& payload,
    std::optional<std::string> response_topic = std::string("presence/reply/carol/carol-phone"),
    std::string topic = "presence/query/carol/carol-phone") {
    return host::answer_query(engine, {topic, payload, response_topic, 16 * 1024});
}

wire::query_response decode(const host::query_answer& a) {
    wire::query_response r;
    REQUIRE_FALSE(wire::decode_query_response(a.reply.payload, r));
    return r;
}

}  // namespace

TEST_CASE("query topics name the requester and replies stay in its reply space") {
    core::device_key who;
    CHECK(wire::parse_query_topic("presence/query/carol/carol-phone", who));
    CHECK(who == carol);
    CHECK(wire::query_topic(carol) == "presence/query/carol/carol-phone");
    CHECK_FALSE(wire::parse_query_topic("presence/query/carol", who));
    CHECK_FALSE(wire::parse_query_topic("presence/query/carol/phone/extra", who));
    CHECK_FALSE(wire::parse_query_topic("presence/query/ca rol/phone", who));
    CHECK_FALSE(wire::parse_query_topic("presence/query//phone", who));
    CHECK_FALSE(wire::parse_query_topic("presence/connect/carol/phone", who));

    CHECK(wire::reply_topic(carol) == "presence/reply/carol/carol-phone");
    CHECK(wire::reply_topic_allowed("presence/reply/carol/carol-phone", carol));
    CHECK(wire::reply_topic_allowed("presence/reply/carol/carol-phone/tab-1", carol));
    CHECK(wire::reply_topic_allowed("presence/reply/carol/carol-phone/a/b/c", carol));
    CHECK_FALSE(wire::reply_topic_allowed("presence/reply/carol/carol-phone2", carol));
    CHECK_FALSE(wire::reply_topic_allowed("presence/reply/carol/carol-phone/", carol));
    CHECK_FALSE(wire::reply_topic_allowed("presence/reply/carol/carol-phone/+", carol));
    CHECK_FALSE(wire::reply_topic_allowed("presence/reply/carol/carol-phone/#", carol));
    CHECK_FALSE(wire::reply_topic_allowed("presence/reply/carol/carol-phone/x/#", carol));
    CHECK_FALSE(wire::reply_topic_allowed(
        std::string_view("presence/reply/carol/carol-phone/\0", 33), carol));
    CHECK_FALSE(wire::reply_topic_allowed("presence/reply/alice/alice-phone", carol));
    CHECK_FALSE(wire::reply_topic_allowed("presence/reply/carol", carol));
    CHECK_FALSE(wire::reply_topic_allowed("party/p1/members", carol));
    CHECK_FALSE(wire::reply_topic_allowed("", carol));
}

TEST_CASE("query requests decode from protobuf and JSON, and are validated") {
    for (const bool json : {false, true}) {
        CAPTURE(json);
        auto d = wire::decode_query(
            wire::encode_query_request({query_kind::get_presence, {"a", "b.c", "a"}, {}}, json));
        CHECK(d.status == query_status::ok);
        CHECK(d.json == json);
        CHECK(d.has_kind);
        CHECK(d.request.kind == query_kind::get_presence);
        CHECK(d.request.user_ids == std::vector<std::string>{"a", "b.c", "a"});

        d = wire::decode_query(
            wire::encode_query_request({query_kind::where_now, {}, "bob"}, json));
        CHECK(d.status == query_status::ok);
        CHECK(d.request.kind == query_kind::where_now);
        CHECK(d.request.id == "bob");
        d = wire::decode_query(
            wire::encode_query_request({query_kind::get_user_devices, {}, "bob"}, json));
        CHECK(d.request.kind == query_kind::get_user_devices);
        CHECK(d.request.id == "bob");
        d = wire::decode_query(
            wire::encode_query_request({query_kind::list_members, {}, "p-1_x"}, json));
        CHECK(d.request.kind == query_kind::list_members);
        CHECK(d.request.id == "p-1_x");

        // Validation, with the kind known so the failure is counted against it.
        d = wire::decode_query(
            wire::encode_query_request({query_kind::list_members, {}, "p/1"}, json));
        CHECK(d.status == query_status::bad_request);
        CHECK(d.has_kind);
        CHECK(d.error.find("list_members.party_id") != std::string::npos);
        d = wire::decode_query(
            wire::encode_query_request({query_kind::where_now, {}, std::string(65, 'x')}, json));
        CHECK(d.status == query_status::bad_request);
        d = wire::decode_query(
            wire::encode_query_request({query_kind::get_presence, {}, {}}, json));
        CHECK(d.status == query_status::bad_request);
        CHECK(d.has_kind);
        std::vector<std::string> batch(wire::max_presence_batch, "u");
        d = wire::decode_query(
            wire::encode_query_request({query_kind::get_presence, batch, {}}, json));
        CHECK(d.status == query_status::ok);
        batch.push_back("u");
        d = wire::decode_query(
            wire::encode_query_request({query_kind::get_presence, batch, {}}, json));
        CHECK(d.status == query_status::too_large);
        CHECK(d.error.find("101") != std::string::npos);
        batch = {"ok", "not ok"};
        d = wire::decode_query(
            wire::encode_query_request({query_kind::get_presence, batch, {}}, json));
        CHECK(d.status == query_status::bad_request);
        CHECK(d.error.find("\"not ok\"") != std::string::npos);
    }
    // Undecodable or empty payloads name no query.
    for (const std::string& payload :
         {std::string(), std::string("{}"), std::string("  {\"bogus\": 1}"),
          std::string("{\"where_now\": "), std::string("\x0a\x05gar", 5),
          std::string("\xff\xff\xff", 3)}) {
        CAPTURE(payload);
        const auto d = wire::decode_query(payload);
        CHECK(d.status == query_status::bad_request);
        CHECK_FALSE(d.has_kind);
        CHECK_FALSE(d.error.empty());
    }
    CHECK(wire::decode_query(" \n{}").json);
    CHECK_FALSE(wire::decode_query("").json);
    // A long bad identifier is cut short in the error text.
    const auto d = wire::decode_query(
        wire::encode_query_request({query_kind::where_now, {}, std::string(5000, '!')}, true));
    CHECK(d.status == query_status::bad_request);
    CHECK(d.error.size() < 300);
}

TEST_CASE("query responses round-trip and their JSON matches protobuf's printer") {
    wire::testing::rng r(77);
    for (int i = 0; i < 100; ++i) {
        for (const auto& response : random_responses(r)) {
            const auto binary = wire::encode_query_response(response, false);
            const auto json = wire::encode_query_response(response, true);
            // The JSON is the same message: protobuf's strict parser reads it back unchanged.
            v1::QueryResponse from_binary;
            v1::QueryResponse from_json;
            REQUIRE(from_binary.ParseFromString(binary));
            REQUIRE(google::protobuf::util::JsonStringToMessage(json, &from_json).ok());
            CHECK(google::protobuf::util::MessageDifferencer::Equals(from_binary, from_json));
            // Byte for byte, where no member list or presence record is involved (those go
            // through the wire library's own printer, compared with protobuf's in
            // test_wire_outbound.cpp).
            if (!std::holds_alternative<core::party_snapshot>(response.result) &&
                !std::holds_alternative<std::vector<core::user_presence>>(response.result)) {
                CHECK(json == reference_json(binary));
            }
            wire::query_response back;
            REQUIRE_FALSE(wire::decode_query_response(binary, back));
            CHECK(operator_eq(back, response));
            REQUIRE_FALSE(wire::decode_query_response(json, back));
            CHECK(operator_eq(back, response));
        }
    }
    wire::query_response r0;
    CHECK(wire::decode_query_response("\xff\xff", r0) == wire::error::bad_payload);
    CHECK(wire::decode_query_response("{\"status\": \"NOPE\"}", r0) == wire::error::bad_payload);
    CHECK(wire::decode_query_response("", r0) == wire::error::bad_payload);  // status unspecified
}

TEST_CASE("answer_query serves every query from the engine's state") {
    const auto engine = populated_engine();

    auto a = ask(engine, wire::encode_query_request(
                             {query_kind::get_presence, {"bob", "nobody", "alice"}, {}}, false));
    CHECK(a.drop == host::query_drop::none);
    CHECK(a.requester == carol);
    CHECK(a.reply.topic == "presence/reply/carol/carol-phone");
    CHECK_FALSE(a.reply.retained);
    REQUIRE(a.kind);
    CHECK(*a.kind == query_kind::get_presence);
    CHECK(a.status == query_status::ok);
    auto r = decode(a);
    const auto& users = std::get<std::vector<core::user_presence>>(r.result);
    REQUIRE(users.size() == 3);
    // Replies carry the lean public fields: compare as published.
    CHECK(wire::encode(users[0]) == wire::encode(*engine.user("bob")));
    CHECK(users[1].user_id == "nobody");
    CHECK_FALSE(users[1].online);
    CHECK(users[1].devices.empty());
    CHECK(users[1].last_seen == core::time_point{});
    CHECK(wire::encode(users[2]) == wire::encode(*engine.user("alice")));

    a = ask(engine, wire::encode_query_request({query_kind::get_user_devices, {}, "bob"}, false));
    r = decode(a);
    const auto& devices = std::get<wire::user_devices>(r.result);
    CHECK(devices.user_id == "bob");
    CHECK(devices.online);
    REQUIRE(devices.devices.size() == engine.user("bob")->devices.size());
    for (std::size_t i = 0; i < devices.devices.size(); ++i) {
        CHECK(devices.devices[i].device_id == engine.user("bob")->devices[i].device_id);
        CHECK(devices.devices[i].state == engine.user("bob")->devices[i].state);
        CHECK(devices.devices[i].session_id.empty());
    }

    a = ask(engine, wire::encode_query_request({query_kind::get_user_devices, {}, "zed"}, false));
    r = decode(a);
    CHECK_FALSE(std::get<wire::user_devices>(r.result).online);
    CHECK(std::get<wire::user_devices>(r.result).devices.empty());

    a = ask(engine, wire::encode_query_request({query_kind::where_now, {}, "bob"}, false));
    r = decode(a);
    CHECK(std::get<wire::user_parties>(r.result).party_ids == std::vector<std::string>{"p1", "p2"});

    a = ask(engine, wire::encode_query_request({query_kind::list_members, {}, "p1"}, false));
    r = decode(a);
    CHECK(wire::encode(std::get<core::party_snapshot>(r.result)) ==
          wire::encode(*engine.snapshot("p1")));

    a = ask(engine, wire::encode_query_request({query_kind::list_members, {}, "nowhere"}, false));
    r = decode(a);
    const auto& empty = std::get<core::party_snapshot>(r.result);
    CHECK(empty.party_id == "nowhere");
    CHECK(empty.revision == 0);
    CHECK(empty.members.empty());
}

TEST_CASE("answer_query answers JSON with JSON and refuses what it must not answer") {
    const auto engine = populated_engine();

    auto a = ask(engine, R"(  {"where_now": {"user_id": "alice"}})",
                 std::string("presence/reply/carol/carol-phone/tab-2"));
    CHECK(a.drop == host::query_drop::none);
    CHECK(a.reply.topic == "presence/reply/carol/carol-phone/tab-2");
    CHECK(a.reply.payload == R"({"status":"QUERY_STATUS_OK","error":"",)"
                             R"("parties":{"user_id":"alice","party_ids":["p1"]}})");

    a = ask(engine, "{}");
    CHECK(a.drop == host::query_drop::none);
    CHECK_FALSE(a.kind);
    CHECK(a.status == query_status::bad_request);
    CHECK(wire::is_json_payload(a.reply.payload));
    CHECK(decode(a).status == query_status::bad_request);

    // Over the payload limit: refused before decoding, in the request's form.
    a = host::answer_query(engine,
                           {"presence/query/carol/carol-phone", "{" + std::string(100, ' ') + "}",
                            std::string("presence/reply/carol/carol-phone"), 50});
    CHECK(a.status == query_status::too_large);
    CHECK(wire::is_json_payload(a.reply.payload));
    CHECK(decode(a).error.find("at most 50") != std::string::npos);

    const auto payload = wire::encode_query_request({query_kind::list_members, {}, "p1"}, false);
    CHECK(ask(engine, payload, std::nullopt).drop == host::query_drop::no_response_topic);
    CHECK(ask(engine, payload, std::string()).drop == host::query_drop::no_response_topic);
    for (const char* refused :
         {"presence/reply/alice/alice-phone", "party/p1/members", "presence/reply/carol",
          "presence/reply/carol/carol-phone-2", "presence/reply/carol/carol-phone/#"}) {
        CAPTURE(refused);
        const auto d = ask(engine, payload, std::string(refused));
        CHECK(d.drop == host::query_drop::response_topic_refused);
        CHECK(d.reply.payload.empty());
    }
    const auto bad =
        ask(engine, payload, std::string("presence/reply/x/y"), "presence/query/bad id/phone");
    CHECK(bad.drop == host::query_drop::bad_topic);
    CHECK(host::is_query_topic("presence/query/a/b"));
    CHECK_FALSE(host::is_query_topic("presence/queryx/a/b"));
    CHECK_FALSE(host::is_query_topic("presence/connect/a/b"));
}

TEST_CASE("list_members refuses a party too big to build on the loop thread") {
    core::engine engine;
    const core::time_point t0{std::chrono::milliseconds{1'700'000'000'000}};
    for (std::size_t i = 0; i < wire::max_list_members; ++i) {
        engine.on_join("big", {"u" + std::to_string(i), "d"}, "", t0);
    }
    engine.take_effects();
    CHECK(engine.member_count("big") == wire::max_list_members);
    CHECK(engine.member_count("nowhere") == 0);
    const auto payload = wire::encode_query_request({query_kind::list_members, {}, "big"}, false);
    auto a = ask(engine, payload);
    CHECK(a.status == query_status::ok);
    CHECK(std::get<core::party_snapshot>(decode(a).result).members.size() ==
          wire::max_list_members);

    engine.on_join("big", {"one-more", "d"}, "", t0);
    engine.take_effects();
    a = ask(engine, payload);
    REQUIRE(a.kind);
    CHECK(*a.kind == query_kind::list_members);
    CHECK(a.status == query_status::too_large);
    const auto r = decode(a);
    CHECK(std::holds_alternative<std::monostate>(r.result));
    CHECK(r.error.find("1001 members") != std::string::npos);
    CHECK(r.error.find("party/big/members") != std::string::npos);
}
