// MQTT 5 queries answered by the real controller through the real broker: a requester publishes
// on presence/query/<user>/<device> with a response topic and correlation data, and reads the
// answer in its own reply space.

#include <doctest/doctest.h>

#include <algorithm>

#include "presence/testing/query_client.hpp"
#include "presence/testing/tokens.hpp"
#include "presence/wire/query.hpp"
#include "stack.hpp"

using namespace presence;
using namespace presence::testing;
using wire::query_kind;
using wire::query_status;

namespace {

wire::query_request request(query_kind kind, std::string id = {},
                            std::vector<std::string> user_ids = {}) {
    return {kind, std::move(user_ids), std::move(id)};
}

// Alice (one phone) in p1; bob (phone) in p1 and p2. Returns when the observer sees both parties.
void join_alice_and_bob(stack& s, app_device& alice, app_device& bob) {
    alice.connect();
    bob.connect();
    alice.join("p1");
    bob.join("p1");
    bob.join("p2");
    REQUIRE(s.watch->wait_snapshot("p1", [](const core::party_snapshot* p) {
        return is_present(p, "alice") && is_present(p, "bob");
    }));
    REQUIRE(s.watch->wait_snapshot(
        "p2", [](const core::party_snapshot* p) { return is_present(p, "bob"); }));
}

std::vector<std::string> user_ids(const core::party_snapshot& s) {
    std::vector<std::string> ids;
    for (const auto& m : s.members) ids.push_back(m.user_id);
    return ids;
}

}  // namespace

TEST_CASE("queries_answer_from_the_controllers_state") {
    stack s;
    app_device alice(s.broker_.uri(), stack::app("alice", "alice-phone"));
    app_device bob(s.broker_.uri(), stack::app("bob", "bob-phone"));
    join_alice_and_bob(s, alice, bob);
    query_client carol(s.broker_.uri(), {"carol", "carol-phone", {}, {}});

    {  // get presence
        const auto r =
            carol.query(request(query_kind::get_presence, {}, {"bob", "nobody", "alice"}));
        REQUIRE(r);
        CHECK(r->status == query_status::ok);
        CHECK(r->error.empty());
        const auto* users = std::get_if<std::vector<core::user_presence>>(&r->result);
        REQUIRE(users);
        REQUIRE(users->size() == 3);  // in request order
        CHECK((*users)[0].user_id == "bob");
        CHECK((*users)[0].online);
        CHECK((*users)[0].parties == std::vector<std::string>{"p1", "p2"});
        REQUIRE((*users)[0].devices.size() == 1);
        CHECK((*users)[0].devices[0].device_id == "bob-phone");
        CHECK((*users)[1].user_id == "nobody");
        CHECK_FALSE((*users)[1].online);
        CHECK((*users)[1].devices.empty());
        CHECK((*users)[1].parties.empty());
        CHECK((*users)[2].user_id == "alice");
        CHECK((*users)[2].online);
        CHECK((*users)[2].profile.display_name == "alice");
        CHECK((*users)[2].parties == std::vector<std::string>{"p1"});
    }
    {  // get user devices
        const auto r = carol.query(request(query_kind::get_user_devices, "alice"));
        REQUIRE(r);
        CHECK(r->status == query_status::ok);
        const auto* devices = std::get_if<wire::user_devices>(&r->result);
        REQUIRE(devices);
        CHECK(devices->user_id == "alice");
        CHECK(devices->online);
        REQUIRE(devices->devices.size() == 1);
        CHECK(devices->devices[0].device_id == "alice-phone");
        CHECK(devices->devices[0].state == core::device_state::live);
        CHECK(devices->devices[0].session_id.empty());  // lean public protocol (v1.1)
    }
    {  // where now
        const auto r = carol.query(request(query_kind::where_now, "bob"));
        REQUIRE(r);
        CHECK(r->status == query_status::ok);
        const auto* parties = std::get_if<wire::user_parties>(&r->result);
        REQUIRE(parties);
        CHECK(parties->user_id == "bob");
        CHECK(parties->party_ids == std::vector<std::string>{"p1", "p2"});
    }
    {  // list members matches the retained snapshot
        const auto r = carol.query(request(query_kind::list_members, "p1"));
        REQUIRE(r);
        CHECK(r->status == query_status::ok);
        const auto* members = std::get_if<core::party_snapshot>(&r->result);
        REQUIRE(members);
        const auto retained = s.watch->latest_snapshot("p1");
        REQUIRE(retained);
        CHECK(*members == *retained);
        CHECK(user_ids(*members) == std::vector<std::string>{"alice", "bob"});
    }
    {  // unknown party has no members and revision 0
        const auto r = carol.query(request(query_kind::list_members, "nowhere"));
        REQUIRE(r);
        CHECK(r->status == query_status::ok);
        const auto* members = std::get_if<core::party_snapshot>(&r->result);
        REQUIRE(members);
        CHECK(members->party_id == "nowhere");
        CHECK(members->revision == 0);
        CHECK(members->members.empty());
    }
    {  // answers follow changes
        bob.leave("p2");
        REQUIRE(s.watch->wait_snapshot("p2", [](const core::party_snapshot* p) { return !p; }));
        const auto r = carol.query(request(query_kind::where_now, "bob"));
        REQUIRE(r);
        const auto* parties = std::get_if<wire::user_parties>(&r->result);
        REQUIRE(parties);
        CHECK(parties->party_ids == std::vector<std::string>{"p1"});
    }
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("query_json_request_gets_a_json_answer") {
    stack s;
    app_device alice(s.broker_.uri(), stack::app("alice", "alice-phone"));
    app_device bob(s.broker_.uri(), stack::app("bob", "bob-phone"));
    join_alice_and_bob(s, alice, bob);
    query_client carol(s.broker_.uri(), {"carol", "carol-phone", {}, {}});

    // Hand-written, the way a browser or mosquitto_pub sends it; the reply goes below the base.
    const auto reply = carol.ask(R"( {"where_now": {"user_id": "bob"}} )", "screen-1");
    REQUIRE(reply);
    CHECK(reply->topic == carol.reply_topic() + "/screen-1");
    REQUIRE_FALSE(reply->payload.empty());
    CHECK(reply->payload.front() == '{');
    CHECK(reply->payload.find(R"("status":"QUERY_STATUS_OK")") != std::string::npos);
    CHECK(reply->payload.find(R"("parties":{"user_id":"bob","party_ids":["p1","p2"]})") !=
          std::string::npos);
    wire::query_response decoded;
    REQUIRE_FALSE(wire::decode_query_response(reply->payload, decoded));
    CHECK(std::get<wire::user_parties>(decoded.result).party_ids ==
          std::vector<std::string>{"p1", "p2"});

    // A protobuf request gets a protobuf answer.
    const auto binary =
        carol.ask(wire::encode_query_request(request(query_kind::list_members, "p1"), false));
    REQUIRE(binary);
    CHECK_FALSE(wire::is_json_payload(binary->payload));
    REQUIRE_FALSE(wire::decode_query_response(binary->payload, decoded));
    CHECK(user_ids(std::get<core::party_snapshot>(decoded.result)) ==
          std::vector<std::string>{"alice", "bob"});
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("bad_queries_get_clear_errors_and_are_counted") {
    stack s;
    query_client carol(s.broker_.uri(), {"carol", "carol-phone", {}, {}});

    const auto status_of = [&](const std::string& payload) {
        const auto reply = carol.ask(payload);
        REQUIRE(reply);
        wire::query_response r;
        REQUIRE_FALSE(wire::decode_query_response(reply->payload, r));
        CHECK_FALSE(r.error.empty());
        CHECK(std::holds_alternative<std::monostate>(r.result));
        return r.status;
    };
    CHECK(status_of("\x0a\x05garbage-that-is-not-protobuf") == query_status::bad_request);
    CHECK(status_of(R"({"where_now": {"user_id": "bob"}, "nonsense": 1})") ==
          query_status::bad_request);
    CHECK(status_of("") == query_status::bad_request);  // no query set
    CHECK(status_of(wire::encode_query_request(request(query_kind::where_now, "bad id!"), false)) ==
          query_status::bad_request);
    CHECK(status_of(wire::encode_query_request(request(query_kind::list_members, ""), false)) ==
          query_status::bad_request);
    std::vector<std::string> many;
    for (int i = 0; i <= 100; ++i) many.push_back("user" + std::to_string(i));
    CHECK(status_of(wire::encode_query_request(request(query_kind::get_presence, {}, many),
                                               false)) == query_status::too_large);
    many.pop_back();  // exactly 100 is fine
    const auto ok = carol.query(request(query_kind::get_presence, {}, many));
    REQUIRE(ok);
    CHECK(ok->status == query_status::ok);
    CHECK(std::get<std::vector<core::user_presence>>(ok->result).size() == 100);
    // A payload over --max-payload (16 KiB by default) is refused before decoding.
    CHECK(status_of("{" + std::string(20'000, ' ') + "}") == query_status::too_large);

    CHECK(s.watch->wait_stat("query_where_now_bad_request", [](double v) { return v == 1; }));
    CHECK(s.watch->wait_stat("query_list_members_bad_request", [](double v) { return v == 1; }));
    CHECK(s.watch->wait_stat("query_get_presence_too_large", [](double v) { return v == 1; }));
    CHECK(s.watch->wait_stat("query_get_presence_ok", [](double v) { return v == 1; }));
    CHECK(s.watch->wait_stat("query_unknown_bad_request", [](double v) { return v == 3; }));
    CHECK(s.watch->wait_stat("query_unknown_too_large", [](double v) { return v == 1; }));
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("query_reply_never_goes_outside_the_requesters_reply_space") {
    stack s;
    app_device alice(s.broker_.uri(), stack::app("alice", "alice-phone"));
    app_device bob(s.broker_.uri(), stack::app("bob", "bob-phone"));
    join_alice_and_bob(s, alice, bob);
    // Mallory watches where a misdirected reply would land (the broker here has no ACL).
    query_client mallory(s.broker_.uri(),
                         {"mallory", "mallory-phone", {}, {"presence/reply/#", "party/#"}});
    const std::string payload =
        wire::encode_query_request(request(query_kind::list_members, "p1"), false);

    mallory.send(payload, std::string("presence/reply/alice/alice-phone"), "to-alice");
    mallory.send(payload, std::string("party/p1/members"), "to-the-party");
    mallory.send(payload, std::string("presence/reply/mallory/mallory-phone-2"), "prefix-trick");
    mallory.send(payload, std::string("presence/reply/mallory/mallory-phone/+"), "wildcard");
    mallory.send(payload, std::nullopt, "no-response-topic");
    // A query topic that names no valid requester gets no answer at all.
    mallory.send_on("presence/query/mal lory/phone", payload, "presence/reply/mal lory/phone",
                    "bad-topic");
    // After all of them (same client, QoS 1: in order), a good query is answered.
    const auto good = mallory.ask(payload);
    REQUIRE(good);

    for (const auto& r : mallory.replies()) {
        CAPTURE(r.topic);
        CAPTURE(r.correlation_data);
        if (r.topic.rfind("presence/reply/", 0) == 0) {
            CHECK(r.topic == mallory.reply_topic());
        }
        CHECK(r.correlation_data != "to-alice");
        CHECK(r.correlation_data != "to-the-party");
        CHECK(r.correlation_data != "prefix-trick");
        CHECK(r.correlation_data != "wildcard");
        CHECK(r.correlation_data != "no-response-topic");
        CHECK(r.correlation_data != "bad-topic");
    }
    CHECK(s.watch->wait_stat("query_dropped_response_topic_refused",
                             [](double v) { return v == 4; }));
    CHECK(s.watch->wait_stat("query_dropped_bad_topic", [](double v) { return v == 1; }));
    CHECK(s.watch->wait_stat("query_dropped_no_response_topic", [](double v) { return v == 1; }));
    CHECK(s.watch->wait_stat("query_list_members_ok", [](double v) { return v == 1; }));
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("hardened_config_lets_apps_query_only_as_themselves") {
    // hardened.conf loads the presence plugin: its ACL pins presence/query/<u>/<d> to the sender.
    stack_options options;
    options.broker.config = "hardened";
    options.controller_username = std::string(controller_user);
    options.controller_password = mint_test_token(controller_user, token::role::controller);
    options.observer = {"watcher-screen", "watcher", mint_test_token("watcher"), false};
    stack s(options);

    app_options alice_opts = stack::app("alice", "alice-phone");
    alice_opts.password = mint_test_token("alice");
    app_device alice(s.broker_.uri(), alice_opts);
    alice.connect();
    alice.join("p1");
    REQUIRE(s.watch->wait_snapshot(
        "p1", [](const core::party_snapshot* p) { return is_present(p, "alice"); }));

    // Alice's second device asks a query of its own; carol asks as herself.
    query_client alice_tab(s.broker_.uri(), {"alice", "alice-tab", mint_test_token("alice"), {}});
    query_client carol(s.broker_.uri(), {"carol", "carol-phone", mint_test_token("carol"), {}});
    const auto answer = carol.query(request(query_kind::where_now, "alice"));
    REQUIRE(answer);
    CHECK(answer->status == query_status::ok);
    CHECK(std::get<wire::user_parties>(answer->result).party_ids == std::vector<std::string>{"p1"});

    // Carol forges a query as alice's tab, to land a reply in alice's reply space: the broker
    // refuses the publish (MQTT 5 PUBACK "not authorised", which Paho may report as an error).
    try {
        carol.send_on("presence/query/alice/alice-tab",
                      wire::encode_query_request(request(query_kind::list_members, "p1"), false),
                      "presence/reply/alice/alice-tab", "forged");
    } catch (const std::exception&) {
        // Refused; what matters is that nothing reaches alice below.
    }
    // Alice's own query afterwards is answered, and nothing forged ever arrived.
    const auto own = alice_tab.query(request(query_kind::get_user_devices, "alice"));
    REQUIRE(own);
    CHECK(own->status == query_status::ok);
    for (const auto& r : alice_tab.replies()) CHECK(r.correlation_data != "forged");
    CHECK(alice_tab.replies().size() == 1);
    CHECK(stop_controller(s) == 0);
}
