// The topic grammar (presence/wire/topics.hpp): every topic of protocol v1 parses to its class and
// identifiers, every builder's output parses back to what it was built from, and the payload
// sniffer tells JSON from protobuf.
#include <doctest/doctest.h>

#include <string>

#include "presence/wire/payload.hpp"
#include "presence/wire/topics.hpp"

namespace presence::wire {
namespace {

// The parse of a topic that must parse; its views point into `topic`, which must outlive them.
parsed_topic parsed(std::string_view topic, bool wildcards = false) {
    parsed_topic t;
    INFO("topic ", topic);
    REQUIRE(parse_topic(topic, t, wildcards) == topic_error::ok);
    return t;
}

constexpr inbound_kind all_inbound[] = {
    inbound_kind::connect,
    inbound_kind::will,
    inbound_kind::disconnect,
    inbound_kind::profile,
    inbound_kind::join,
    inbound_kind::leave,
    inbound_kind::lifecycle_connected,
    inbound_kind::lifecycle_disconnected,
    inbound_kind::broker_epoch,
    inbound_kind::broker_census,
};

TEST_CASE("every inbound builder's topic parses back to its kind and identifiers") {
    for (const auto kind : all_inbound) {
        const std::string topic = inbound_topic(kind, "alice", "phone", "p1");
        const auto t = parsed(topic);
        CHECK(t.what == topic_class::inbound);
        CHECK(t.inbound == kind);
        if (kind == inbound_kind::broker_epoch || kind == inbound_kind::broker_census) {
            CHECK(topic ==
                  (kind == inbound_kind::broker_epoch ? broker_epoch_topic : broker_census_topic));
            CHECK(t.user_id.empty());
            continue;
        }
        CHECK(t.user_id == "alice");
        CHECK(t.device_id == "phone");
        const bool party = kind == inbound_kind::join || kind == inbound_kind::leave;
        CHECK(t.party_id == (party ? "p1" : ""));
    }
    CHECK(inbound_topic(inbound_kind::join, "alice", "phone", "p1") == "party/p1/join/alice/phone");
    CHECK(inbound_topic(inbound_kind::lifecycle_disconnected, "a", "d") ==
          "presence/lifecycle/disconnected/a/d");
    CHECK(inbound_topic(inbound_kind::will, "a", "d") == "presence/will/a/d");
}

TEST_CASE("every inbound filter is the shape of its kind with + for each identifier") {
    for (std::size_t k = 0; k < inbound_filters.size(); ++k) {
        const auto t = parsed(inbound_filters[k], /*wildcards=*/true);
        CHECK(t.what == topic_class::inbound);
        CHECK(t.inbound == all_inbound[k]);
    }
}

TEST_CASE("outputs and their json twins parse back to kind, id and json") {
    for (const auto kind : {output_kind::members, output_kind::events, output_kind::user}) {
        for (const bool json : {false, true}) {
            const std::string topic = output_topic(kind, "p-1", json);
            const auto t = parsed(topic);
            CHECK(t.what == topic_class::output);
            CHECK(t.output == kind);
            CHECK(t.json == json);
            CHECK((kind == output_kind::user ? t.user_id : t.party_id) == "p-1");
        }
    }
    CHECK(output_topic(output_kind::members, "demo", true) == "party/demo/members/json");
    CHECK(output_topic(output_kind::user, "bob") == "presence/user/bob");
    CHECK(parsed(snapshot_subscription, true).output == output_kind::members);
    CHECK(parsed(user_subscription, true).output == output_kind::user);
}

TEST_CASE("queries, replies and the controller's topics have their own classes") {
    const std::string query = query_topic("alice", "phone");
    const auto q = parsed(query);
    CHECK(q.what == topic_class::query);
    CHECK(q.user_id == "alice");
    CHECK(q.device_id == "phone");
    CHECK(parsed(query_subscription, true).what == topic_class::query);
    CHECK(in_query_space("presence/query/whatever/goes/here"));
    CHECK_FALSE(in_query_space("presence/querying"));

    const std::string reply = reply_topic("alice", "phone");
    const auto root = parsed(reply);
    CHECK(root.what == topic_class::reply);
    CHECK(root.rest.empty());
    const auto deep = parsed("presence/reply/alice/phone/a/b/c/d/e");
    CHECK(deep.what == topic_class::reply);
    CHECK(deep.device_id == "phone");
    CHECK(deep.rest == "/a/b/c/d/e");
    CHECK(parsed("presence/reply/alice/phone/").rest == "/");

    std::string sync;
    append_controller_sync_topic(sync, "presence-controller");
    CHECK(sync == "presence/controller/presence-controller/sync");
    CHECK(parsed(controller_status_topic).what == topic_class::controller_status);
    CHECK(parsed(controller_stats_topic).what == topic_class::controller_stats);
}

TEST_CASE("a bad identifier is told apart from a bad shape") {
    parsed_topic t;
    CHECK(parse_topic("party/a b/join/u/d", t) == topic_error::bad_identifier);
    CHECK(t.what == topic_class::inbound);
    CHECK(parse_topic("presence/connect/u/" + std::string(65, 'x'), t) ==
          topic_error::bad_identifier);
    CHECK(parse_topic("party//members", t) == topic_error::bad_identifier);
    CHECK(parse_topic("party/+/members", t) == topic_error::bad_identifier);  // not a filter
    for (const char* bad :
         {"", "party", "party/p/members/xml", "party/p/dance/u/d", "presence/connect/u",
          "presence/connect/u/d/x", "presence/lifecycle/opened/u/d", "presence/broker",
          "presence/controller/other", "presence/reply/u", "Party/p/members",
          "party/p/join/u/d/e/f/g"}) {
        INFO("topic ", bad);
        CHECK(parse_topic(bad, t) == topic_error::bad_topic);
    }
}

TEST_CASE("wildcards stand for identifiers only when judging a filter") {
    CHECK(parsed("party/+/events/json", true).party_id == "+");
    parsed_topic t;
    CHECK(parse_topic("party/#", t, true) == topic_error::bad_topic);
    CHECK(parse_topic("party/+/+", t, true) == topic_error::bad_topic);
    CHECK(parse_topic("presence/user/#", t, true) == topic_error::bad_identifier);
}

TEST_CASE("the sniffer reads a payload as JSON when its first non-blank byte is an open brace") {
    struct example {
        std::string_view payload;
        bool json;
    };
    const example examples[] = {
        {"{}", true},   {" \t\r\n{\"session_id\":\"s\"}", true},   {"", false}, {"   ", false},
        {"[1]", false}, {std::string_view("\x12\x01s", 3), false},  // protobuf: field 2, the string
                                                                    // "s"
    };
    for (const auto& e : examples) {
        CAPTURE(e.payload);
        CHECK(is_json_payload(e.payload) == e.json);
    }
}

}  // namespace
}  // namespace presence::wire
