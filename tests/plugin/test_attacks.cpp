// The attack suite: real MQTT clients try to impersonate, forge, eavesdrop and sneak in against
// a broker running the presence plugin. Every attempt must fail: a forged publish never reaches
// a controller-role subscriber, a forbidden subscription never delivers, a bad CONNECT gets
// CONNACK 5 (not authorised).

#include <doctest/doctest.h>

#include <string>

#include "fixture.hpp"
#include "presence/wire/wire.hpp"

using namespace presence;
using namespace presence::testing;

namespace {

constexpr auto patience = std::chrono::seconds(20);
constexpr int not_authorised = 5;

// A broker with the plugin, a controller-role spy subscribed to everything, and mallory: an
// authenticated app (user mallory, device m-phone) with a valid token. Mallory is a raw MQTT
// client (Paho clients in one process share a receive thread that picks up each new
// connection only after up to a second, which would make every case slow).
struct arena {
    broker b{dev_broker()};
    observer spy{b.uri(), {"#"}, controller_login("spy")};
    raw_device mallory{b.port(), raw_login("mallory", "m-phone")};

    arena() { mallory.connect(); }

    // Mallory publishes `topic`, then her own connect as a marker on the same connection; the
    // broker handles one connection's packets in order, so once the marker reached the spy, the
    // forged message would have too.
    bool forged_publish_reaches_controller(const std::string& topic, bool retained = false) {
        const std::string payload = "forged-" + topic;
        mallory.publish(topic, payload, retained);
        mallory.publish("presence/connect/mallory/m-phone", "{}");
        REQUIRE(spy.wait_until(
            [&](const auto&) {
                return !spy.messages_on("presence/connect/mallory/m-phone").empty();
            },
            patience));
        spy.sync();
        for (const auto& m : spy.messages()) {
            if (m.payload == payload) return true;
        }
        if (retained) {
            // Nor was it stored: a later subscriber finds no such retained message.
            observer late(b.uri(), {topic}, controller_login("late"));
            late.sync();
            for (const auto& m : late.messages()) {
                if (m.payload == payload) return true;
            }
        }
        return false;
    }

    // Mallory subscribes to `filter` (and to her own replies); the controller-role spy then
    // publishes `bait` on a topic the filter matches, and a marker on mallory's reply topic.
    bool forbidden_subscription_delivers(const std::string& filter, const std::string& bait) {
        observer_options o;
        o.client_id = "m-tablet";
        o.username = "mallory";
        o.password = mint_test_token("mallory");
        o.sync_topic = false;
        observer eavesdropper(b.uri(), {filter, "presence/reply/mallory/m-tablet"}, o);
        spy.publish(bait, "bait");
        spy.publish("presence/reply/mallory/m-tablet", "marker");
        REQUIRE(eavesdropper.wait_until(
            [&](const auto&) {
                return !eavesdropper.messages_on("presence/reply/mallory/m-tablet").empty();
            },
            patience));
        for (const auto& m : eavesdropper.messages()) {
            if (m.topic != "presence/reply/mallory/m-tablet") return true;
        }
        return false;
    }

    // The CONNACK code of a raw MQTT 3.1.1 CONNECT with these credentials.
    int connack(const std::string& user, const std::string& device, const std::string& password) {
        raw_device_options o;
        o.user = user;
        o.device = device;
        o.password = password;
        // A valid will topic whenever the identifiers allow one.
        if (user.find_first_of("/+#") != std::string::npos ||
            device.find_first_of("/+#") != std::string::npos) {
            o.will_topic = "presence/will/x/y";
        }
        raw_device raw(b.port(), o);
        return raw.try_connect();
    }
};

std::string tampered_role_token() {
    // An app token for mallory whose payload is swapped for one claiming role controller,
    // keeping the original signature: forging a role without the key.
    const std::string app = mint_test_token("mallory");
    const std::string ctl = mint_test_token("other-key-that-is-long-enough-0123456789", "mallory",
                                            token::role::controller, std::chrono::hours(1));
    const auto d1 = app.find('.');
    const auto d2 = app.rfind('.');
    return app.substr(0, d1) + ctl.substr(ctl.find('.'), ctl.rfind('.') - ctl.find('.')) +
           app.substr(d2);
}

}  // namespace

// ---- impersonation: publishing inbound topics of another user or device

TEST_CASE("attack_join_as_another_user_is_dropped") {
    arena a;
    CHECK_FALSE(a.forged_publish_reaches_controller("party/p1/join/alice/phone"));
}
TEST_CASE("attack_leave_as_another_user_is_dropped") {
    arena a;
    CHECK_FALSE(a.forged_publish_reaches_controller("party/p1/leave/alice/phone"));
}
TEST_CASE("attack_connect_as_another_user_is_dropped") {
    arena a;
    CHECK_FALSE(a.forged_publish_reaches_controller("presence/connect/alice/phone"));
}
TEST_CASE("attack_disconnect_as_another_user_is_dropped") {
    arena a;
    CHECK_FALSE(a.forged_publish_reaches_controller("presence/disconnect/alice/phone"));
}
TEST_CASE("attack_profile_as_another_user_is_dropped") {
    arena a;
    CHECK_FALSE(a.forged_publish_reaches_controller("presence/profile/alice/phone"));
}
TEST_CASE("attack_will_topic_of_another_user_published_directly_is_dropped") {
    arena a;
    CHECK_FALSE(a.forged_publish_reaches_controller("presence/will/alice/phone"));
}
TEST_CASE("attack_join_as_another_device_of_the_same_user_is_dropped") {
    arena a;
    CHECK_FALSE(a.forged_publish_reaches_controller("party/p1/join/mallory/other-device"));
}
TEST_CASE("attack_query_as_another_user_is_dropped") {
    arena a;
    CHECK_FALSE(a.forged_publish_reaches_controller("presence/query/alice/phone"));
}

TEST_CASE("attack_forged_will_topic_is_never_published") {
    arena a;
    // A CONNECT whose Last Will names bob. Mosquitto 2.0.11 gives plugins no access to the will
    // at CONNECT, so the connection is accepted; the plugin denies the will when the broker
    // tries to publish it (docs/security.md).
    raw_device_options o = raw_login("mallory", "m-will");
    o.will_topic = "presence/will/bob/phone";
    raw_device forger(a.b.port(), o);
    forger.connect();
    forger.close();  // an unexpected disconnect: the broker would publish the will now
    REQUIRE(a.spy.wait_until(
        [&](const auto&) {
            return !a.spy.messages_on("presence/lifecycle/disconnected/mallory/m-will").empty();
        },
        patience));
    a.spy.sync();
    CHECK(a.spy.messages_on("presence/will/bob/phone").empty());
}

TEST_CASE("attack_own_will_topic_is_published_on_socket_loss") {
    // The control case of the one above: the same steps with the right topic do publish.
    arena a;
    raw_device forger(a.b.port(), raw_login("mallory", "m-will"));
    forger.connect();
    forger.close();
    CHECK(a.spy.wait_until(
        [&](const auto&) { return !a.spy.messages_on("presence/will/mallory/m-will").empty(); },
        patience));
}

TEST_CASE("attack_control_case_own_join_reaches_the_controller") {
    // The control case of the publish attacks: the same steps on an own topic do get through.
    arena a;
    CHECK(a.forged_publish_reaches_controller("party/p1/join/mallory/m-phone"));
}

// ---- forging outputs

TEST_CASE("attack_publish_party_members_is_dropped") {
    arena a;
    CHECK_FALSE(a.forged_publish_reaches_controller("party/x/members"));
}
TEST_CASE("attack_publish_retained_party_members_is_dropped") {
    arena a;
    CHECK_FALSE(a.forged_publish_reaches_controller("party/x/members", true));
}
TEST_CASE("attack_publish_party_members_json_is_dropped") {
    arena a;
    CHECK_FALSE(a.forged_publish_reaches_controller("party/x/members/json"));
}
TEST_CASE("attack_publish_party_events_is_dropped") {
    arena a;
    CHECK_FALSE(a.forged_publish_reaches_controller("party/x/events"));
}
TEST_CASE("attack_publish_user_presence_is_dropped") {
    arena a;
    CHECK_FALSE(a.forged_publish_reaches_controller("presence/user/x"));
}
TEST_CASE("attack_publish_lifecycle_connected_is_dropped") {
    arena a;
    CHECK_FALSE(a.forged_publish_reaches_controller("presence/lifecycle/connected/alice/phone"));
}
TEST_CASE("attack_publish_lifecycle_disconnected_is_dropped") {
    arena a;
    CHECK_FALSE(a.forged_publish_reaches_controller("presence/lifecycle/disconnected/alice/phone"));
}
TEST_CASE("attack_publish_broker_epoch_is_dropped") {
    arena a;
    CHECK_FALSE(a.forged_publish_reaches_controller("presence/broker/epoch", true));
}
TEST_CASE("attack_publish_controller_status_is_dropped") {
    arena a;
    CHECK_FALSE(a.forged_publish_reaches_controller("presence/controller/status"));
}
TEST_CASE("attack_publish_controller_stats_is_dropped") {
    arena a;
    CHECK_FALSE(a.forged_publish_reaches_controller("presence/controller/stats"));
}
TEST_CASE("attack_publish_reply_to_another_user_is_dropped") {
    arena a;
    CHECK_FALSE(a.forged_publish_reaches_controller("presence/reply/alice/phone"));
}

// ---- eavesdropping

TEST_CASE("attack_subscribe_to_inbound_connects_of_everyone_gets_nothing") {
    arena a;
    CHECK_FALSE(
        a.forbidden_subscription_delivers("presence/connect/+/+", "presence/connect/alice/phone"));
}
TEST_CASE("attack_subscribe_to_another_users_joins_gets_nothing") {
    arena a;
    CHECK_FALSE(
        a.forbidden_subscription_delivers("party/+/join/alice/+", "party/p1/join/alice/phone"));
}
TEST_CASE("attack_subscribe_to_lifecycle_events_gets_nothing") {
    arena a;
    CHECK_FALSE(a.forbidden_subscription_delivers("presence/lifecycle/#",
                                                  "presence/lifecycle/connected/alice/phone"));
}
TEST_CASE("attack_subscribe_to_everything_gets_nothing") {
    arena a;
    CHECK_FALSE(a.forbidden_subscription_delivers("#", "presence/connect/alice/phone"));
}
TEST_CASE("attack_subscribe_to_a_wide_wildcard_gets_nothing") {
    arena a;
    CHECK_FALSE(
        a.forbidden_subscription_delivers("presence/+/+/+", "presence/connect/alice/phone"));
}
TEST_CASE("attack_subscribe_to_another_users_replies_gets_nothing") {
    arena a;
    CHECK_FALSE(a.forbidden_subscription_delivers("presence/reply/alice/phone",
                                                  "presence/reply/alice/phone"));
}
TEST_CASE("attack_subscribe_to_broker_epoch_gets_nothing") {
    arena a;
    CHECK_FALSE(
        a.forbidden_subscription_delivers("presence/broker/epoch", "presence/broker/epoch"));
}
TEST_CASE("attack_subscribe_to_controller_stats_gets_nothing") {
    arena a;
    CHECK_FALSE(a.forbidden_subscription_delivers("presence/controller/stats",
                                                  "presence/controller/stats"));
}
TEST_CASE("attack_shared_subscription_to_inbound_topics_gets_nothing") {
    arena a;
    CHECK_FALSE(a.forbidden_subscription_delivers("$share/g/presence/connect/+/+",
                                                  "presence/connect/alice/phone"));
}
TEST_CASE("attack_control_case_public_outputs_are_delivered") {
    // The control case: the same steps with an allowed filter do deliver the bait.
    arena a;
    CHECK(a.forbidden_subscription_delivers("party/+/members", "party/demo/members"));
}

// ---- bad credentials and identifiers at CONNECT

TEST_CASE("attack_connect_without_token_is_refused") {
    arena a;
    CHECK(a.connack("alice", "phone", "") == not_authorised);
}
TEST_CASE("attack_connect_with_bad_signature_is_refused") {
    arena a;
    const std::string forged = mint_test_token("another-key-of-the-attacker-0123456789", "alice",
                                               token::role::app, std::chrono::hours(1));
    CHECK(a.connack("alice", "phone", forged) == not_authorised);
}
TEST_CASE("attack_connect_with_expired_token_is_refused") {
    arena a;
    CHECK(a.connack("alice", "phone",
                    mint_test_token("alice", token::role::app, std::chrono::seconds(-10))) ==
          not_authorised);
}
TEST_CASE("attack_connect_with_token_of_another_user_is_refused") {
    arena a;
    CHECK(a.connack("alice", "phone", mint_test_token("mallory")) == not_authorised);
}
TEST_CASE("attack_connect_with_forged_controller_role_is_refused") {
    arena a;
    CHECK(a.connack("mallory", "m-2", tampered_role_token()) == not_authorised);
}
TEST_CASE("attack_connect_with_garbage_password_is_refused") {
    arena a;
    CHECK(a.connack("alice", "phone", "password123") == not_authorised);
}
TEST_CASE("attack_username_with_slash_is_refused") {
    arena a;
    CHECK(a.connack("al/ice", "phone", mint_test_token("al/ice")) == not_authorised);
}
TEST_CASE("attack_username_with_plus_is_refused") {
    arena a;
    CHECK(a.connack("al+ice", "phone", mint_test_token("al+ice")) == not_authorised);
}
TEST_CASE("attack_username_with_hash_is_refused") {
    arena a;
    CHECK(a.connack("al#ice", "phone", mint_test_token("al#ice")) == not_authorised);
}
TEST_CASE("attack_username_of_65_characters_is_refused") {
    arena a;
    const std::string user(65, 'u');
    CHECK(a.connack(user, "phone", mint_test_token(user)) == not_authorised);
}
TEST_CASE("attack_client_id_with_slash_is_refused") {
    arena a;
    CHECK(a.connack("alice", "ph/one", mint_test_token("alice")) == not_authorised);
}
TEST_CASE("attack_client_id_with_plus_is_refused") {
    arena a;
    CHECK(a.connack("alice", "ph+one", mint_test_token("alice")) == not_authorised);
}
TEST_CASE("attack_client_id_with_hash_is_refused") {
    arena a;
    CHECK(a.connack("alice", "ph#one", mint_test_token("alice")) == not_authorised);
}
TEST_CASE("attack_client_id_of_65_characters_is_refused") {
    arena a;
    CHECK(a.connack("alice", std::string(65, 'd'), mint_test_token("alice")) == not_authorised);
}
TEST_CASE("attack_identifiers_of_64_characters_are_accepted") {
    // The control case of the length limit.
    arena a;
    const std::string user(64, 'u');
    CHECK(a.connack(user, std::string(64, 'd'), mint_test_token(user)) == 0);
}
TEST_CASE("attack_taking_over_another_users_live_device_id_is_refused") {
    arena a;
    raw_device alice(a.b.port(), raw_login("alice", "shared-id"));
    alice.connect();
    CHECK(a.connack("mallory", "shared-id", mint_test_token("mallory")) == not_authorised);
    // Alice's connection is untouched: it still publishes, and it never ended.
    alice.publish("presence/connect/alice/shared-id", "{}");
    REQUIRE(a.spy.wait_until(
        [&](const auto&) { return !a.spy.messages_on("presence/connect/alice/shared-id").empty(); },
        patience));
    a.spy.sync();
    CHECK(a.spy.messages_on("presence/lifecycle/disconnected/alice/shared-id").empty());
}

TEST_CASE("attack_resuming_the_controllers_offline_persistent_session_is_refused") {
    // The controller's persistent session queues every inbound message while it is down; an
    // app that resumed it would drain (and lose) that queue.
    arena a;
    raw_device_options ctl = raw_login(std::string(controller_user), "ctl-session");
    ctl.password = mint_test_token(controller_user, token::role::controller);
    ctl.clean_session = false;
    raw_device controller(a.b.port(), ctl);
    controller.connect();
    controller.close();  // offline now; the broker keeps its session
    CHECK(a.connack("mallory", "ctl-session", mint_test_token("mallory")) == not_authorised);
    // The control case: the controller itself may resume it.
    CHECK(a.connack(std::string(controller_user), "ctl-session",
                    mint_test_token(controller_user, token::role::controller)) == 0);
}

TEST_CASE("attack_the_reserved_controller_session_id_needs_a_controller_token") {
    // dev.conf reserves the controller's client id (plugin_opt_controller_session), so no app
    // can open, or after a broker restart resume, the session whose queue the controller drains.
    arena a;
    CHECK(a.connack("mallory", "presence-controller", mint_test_token("mallory")) ==
          not_authorised);
    a.b.restart();
    CHECK(a.connack("mallory", "presence-controller", mint_test_token("mallory")) ==
          not_authorised);
    CHECK(a.connack(std::string(controller_user), "presence-controller",
                    mint_test_token(controller_user, token::role::controller)) == 0);
}

// ---- MQTT 5: the broker says so

namespace {

// mosquitto_pub as an MQTT 5 client with QoS 1 and debug output; returns what it printed.
std::string v5_publish(const arena& a, const std::string& user, const std::string& device,
                       const std::string& topic, const std::string& name) {
    const auto log = a.b.dir() / (name + ".log");
    run_to_completion({"/usr/bin/mosquitto_pub",
                       "-V",
                       "mqttv5",
                       "-d",
                       "-q",
                       "1",
                       "-h",
                       "127.0.0.1",
                       "-p",
                       std::to_string(a.b.port()),
                       "-u",
                       user,
                       "-P",
                       mint_test_token(user),
                       "-i",
                       device,
                       "-t",
                       topic,
                       "-m",
                       "forged"},
                      log);
    return file_tail(log, 40);
}

}  // namespace

TEST_CASE("attack_v5_join_as_another_user_gets_a_not_authorized_puback") {
    arena a;
    const std::string out = v5_publish(a, "mallory", "m-v5", "party/p1/join/alice/phone", "forged");
    CAPTURE(out);
    CHECK(out.find("received PUBACK (Mid: 1, RC:135)") != std::string::npos);  // 0x87
    // The control case: her own join is acknowledged without that code.
    const std::string own = v5_publish(a, "mallory", "m-v5", "party/p1/join/mallory/m-v5", "own");
    CAPTURE(own);
    CHECK(own.find("received PUBACK (Mid: 1") != std::string::npos);
    CHECK(own.find("RC:135") == std::string::npos);
}
