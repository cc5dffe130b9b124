// The plugin's ACL, case by case: what an app may publish, subscribe to and receive.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "presence/plugin/rules.hpp"
#include "presence/wire/wire.hpp"

using namespace presence;
using plugin::access;

namespace {

const plugin::identity alice{"alice", "phone", token::role::app};
const plugin::identity controller{"presence-controller", "presence-controller",
                                  token::role::controller};

bool write(const std::string& topic) { return plugin::allowed(alice, access::write, topic); }
bool subscribe(const std::string& f) { return plugin::allowed(alice, access::subscribe, f); }
bool read(const std::string& topic) { return plugin::allowed(alice, access::read, topic); }

}  // namespace

TEST_CASE("plugin_identifier_rule_matches_the_wire_rule") {
    for (const std::string& id : std::vector<std::string>{
             "a", "alice", "A.b_c-9", std::string(64, 'x'), std::string(65, 'x'), "", "a/b", "a+",
             "#", "a b", "é", "a\nb", "..", "-"}) {
        CAPTURE(id);
        CHECK(plugin::valid_identifier(id) == wire::valid_identifier(id));
    }
}

TEST_CASE("plugin_app_writes_only_its_own_inbound_topics") {
    for (const char* ok : {"presence/connect/alice/phone", "presence/will/alice/phone",
                           "presence/disconnect/alice/phone", "presence/profile/alice/phone",
                           "presence/query/alice/phone", "party/p1/join/alice/phone",
                           "party/p1/leave/alice/phone"}) {
        CAPTURE(ok);
        CHECK(write(ok));
    }
    for (const char* denied : {"presence/connect/bob/phone",
                               "presence/connect/alice/tablet",
                               "presence/will/bob/phone",
                               "party/p1/join/bob/phone",
                               "party/p1/leave/alice/tab",
                               "party/p1/members",
                               "party/p1/members/json",
                               "party/p1/events",
                               "presence/user/alice",
                               "presence/lifecycle/connected/alice/phone",
                               "presence/broker/epoch",
                               "presence/controller/status",
                               "presence/controller/stats",
                               "presence/reply/alice/phone",
                               "party/+/join/alice/phone",
                               "party/bad id/join/alice/phone",
                               "party//join/alice/phone",
                               "presence/connect/alice/phone/extra",
                               "presence/other/alice/phone",
                               "",
                               "#",
                               "presence/connect/alice"}) {
        CAPTURE(denied);
        CHECK_FALSE(write(denied));
    }
}

TEST_CASE("plugin_app_subscribes_only_to_public_outputs_and_its_own_replies") {
    for (const char* ok : {"party/+/members", "party/demo/members", "party/+/members/json",
                           "party/+/events", "party/demo/events/json", "presence/user/+",
                           "presence/user/bob/json", "presence/controller/status",
                           "presence/reply/alice/phone", "presence/reply/alice/phone/#",
                           "presence/reply/alice/phone/q1", "presence/reply/alice/phone/+/x"}) {
        CAPTURE(ok);
        CHECK(subscribe(ok));
    }
    for (const char* denied : {"#",
                               "+",
                               "party/#",
                               "party/+/#",
                               "party/+/+",
                               "presence/#",
                               "presence/+/+/+",
                               "presence/+/+/+/+",
                               "presence/connect/+/+",
                               "presence/connect/alice/phone",
                               "party/+/join/+/+",
                               "presence/lifecycle/#",
                               "presence/lifecycle/connected/+/+",
                               "presence/broker/epoch",
                               "presence/controller/stats",
                               "presence/controller/+",
                               "presence/reply/bob/phone",
                               "presence/reply/bob/phone/#",
                               "presence/reply/+/+",
                               "presence/reply/#",
                               "presence/user/#",
                               "presence/user/+/+",
                               "party/+/members/+",
                               "party/+/members/#",
                               "$SYS/#",
                               "$share/g/party/+/members",
                               ""}) {
        CAPTURE(denied);
        CHECK_FALSE(subscribe(denied));
    }
}

TEST_CASE("plugin_app_receives_only_concrete_public_outputs_and_its_own_replies") {
    CHECK(read("party/demo/members"));
    CHECK(read("party/demo/events/json"));
    CHECK(read("presence/user/bob"));
    CHECK(read("presence/controller/status"));
    CHECK(read("presence/reply/alice/phone/q1"));
    CHECK_FALSE(read("party/+/members"));
    CHECK_FALSE(read("presence/reply/bob/phone"));
    CHECK_FALSE(read("presence/lifecycle/connected/bob/phone"));
    CHECK_FALSE(read("presence/broker/epoch"));
    CHECK_FALSE(read("presence/connect/bob/phone"));
    CHECK_FALSE(read("presence/controller/stats"));
}

TEST_CASE("plugin_controller_role_may_do_everything_and_an_invalid_identity_nothing") {
    for (const auto what : {access::write, access::subscribe, access::read}) {
        CHECK(plugin::allowed(controller, what, "#"));
        CHECK(plugin::allowed(controller, what, "presence/lifecycle/connected/a/b"));
    }
    const plugin::identity bad{"al/ice", "phone", token::role::app};
    CHECK_FALSE(plugin::allowed(bad, access::subscribe, "party/+/members"));
    CHECK(plugin::allowed(alice, access::unsubscribe, "#"));
    CHECK(plugin::own_will_topic("alice", "phone") == "presence/will/alice/phone");
}

TEST_CASE("plugin_observer_reads_public_outputs_and_stats_and_writes_only_its_own_queries") {
    const plugin::identity ops{"ops", "presencectl-1", token::role::observer};
    const auto may = [&](plugin::access what, const char* topic) {
        return plugin::allowed(ops, what, topic);
    };
    for (const char* ok :
         {"party/+/members", "party/demo/members/json", "party/+/events", "party/+/events/json",
          "presence/user/+", "presence/user/bob/json", "presence/controller/status",
          "presence/controller/stats", "presence/reply/ops/presencectl-1",
          "presence/reply/ops/presencectl-1/#"}) {
        CAPTURE(ok);
        CHECK(may(access::subscribe, ok));
    }
    CHECK(may(access::read, "party/demo/members"));
    CHECK(may(access::read, "presence/controller/stats"));
    CHECK(may(access::read, "presence/reply/ops/presencectl-1/q1"));
    CHECK(may(access::write, "presence/query/ops/presencectl-1"));
    for (const char* denied :
         {"#", "presence/#", "presence/lifecycle/#", "presence/reply/bob/phone",
          "presence/reply/+/+", "presence/connect/+/+", "presence/controller/+", "$SYS/#"}) {
        CAPTURE(denied);
        CHECK_FALSE(may(access::subscribe, denied));
    }
    CHECK_FALSE(may(access::read, "presence/reply/bob/phone/q1"));
    CHECK_FALSE(may(access::read, "presence/lifecycle/connected/bob/phone"));
    CHECK_FALSE(may(access::read, "presence/connect/bob/phone"));
    // Nothing an app reports about itself: an observer can never become a device or a member.
    for (const char* denied :
         {"presence/connect/ops/presencectl-1", "presence/will/ops/presencectl-1",
          "presence/disconnect/ops/presencectl-1", "presence/profile/ops/presencectl-1",
          "party/demo/join/ops/presencectl-1", "party/demo/leave/ops/presencectl-1",
          "presence/query/bob/phone", "presence/query/ops/other",
          "presence/query/ops/presencectl-1/x", "presence/query/+/+", "party/demo/members"}) {
        CAPTURE(denied);
        CHECK_FALSE(may(access::write, denied));
    }
}

TEST_CASE("plugin_controller_private_state_is_for_the_controller_role_only") {
    // presence/controller/state/user/<u> holds sessions, ended sessions and broker connections
    // (docs/protocol.md, private state): no app may read, subscribe to or forge it, not even
    // its own user's record.
    const auto own = wire::controller_state_topic("alice");
    CHECK_FALSE(read(own));
    CHECK_FALSE(write(own));
    CHECK_FALSE(subscribe(own));
    CHECK_FALSE(subscribe(std::string(wire::controller_state_subscription)));
    CHECK_FALSE(subscribe("presence/controller/#"));
    CHECK_FALSE(subscribe("presence/controller/+/user/alice"));
    // Nor an observer: operator tools read the public outputs and the stats only.
    const plugin::identity ops{"ops", "presencectl-1", token::role::observer};
    CHECK_FALSE(plugin::allowed(ops, access::read, own));
    CHECK_FALSE(plugin::allowed(ops, access::subscribe, wire::controller_state_subscription));
    CHECK_FALSE(plugin::allowed(ops, access::write, own));
    // presence/controller/state/broker: the broker runs the controller knows.
    const std::string broker(wire::controller_broker_state_topic);
    CHECK_FALSE(read(broker));
    CHECK_FALSE(write(broker));
    CHECK_FALSE(subscribe(broker));
    CHECK_FALSE(subscribe("presence/controller/state/+"));
    CHECK_FALSE(plugin::allowed(ops, access::read, broker));
    CHECK_FALSE(plugin::allowed(ops, access::subscribe, broker));
    CHECK_FALSE(plugin::allowed(ops, access::write, broker));
    for (const auto what : {access::write, access::subscribe, access::read}) {
        CHECK(plugin::allowed(controller, what, own));
        CHECK(plugin::allowed(controller, what, wire::controller_state_subscription));
        CHECK(plugin::allowed(controller, what, broker));
    }
}
