// The harness checked against plain mosquitto (no controller), so a failure in the presence
// suite points at the product, not at the test tools or at a wrong belief about the broker.

#include <doctest/doctest.h>

#include "presence/testing/app_device.hpp"
#include "presence/testing/broker.hpp"
#include "presence/testing/observer.hpp"
#include "presence/testing/raw_device.hpp"
#include "presence/testing/tokens.hpp"
#include "presence/wire/wire.hpp"

using namespace presence;
using namespace presence::testing;

namespace {

// The session ids of every will the observer received for this device, in arrival order.
std::vector<std::string> wills(const observer& obs, const core::device_key& device) {
    std::vector<std::string> out;
    for (const auto& m : obs.messages_on(wire::inbound_topic(wire::inbound_kind::will, device))) {
        wire::inbound in;
        REQUIRE_FALSE(wire::decode_inbound(m.topic, m.payload, in));
        out.push_back(in.session_id);
    }
    return out;
}

}  // namespace

TEST_CASE("harness_retained_messages_survive_broker_restart") {
    broker b;
    {
        observer writer(b.uri(), {});
        writer.publish("party/p/members/json", "{\"x\":1}", true);
    }
    b.restart();
    observer reader(b.uri(), {"party/+/members/json"});
    reader.sync();
    const auto got = reader.messages_on("party/p/members/json");
    REQUIRE(got.size() == 1);
    CHECK(got[0].retained);
    CHECK(got[0].payload == "{\"x\":1}");
}

TEST_CASE("harness_airplane_mode_device_gets_its_will_published_by_keepalive") {
    broker b;
    observer obs(b.uri(), {"presence/#", "party/#"});
    raw_device phone(b.port(), {"alice", "phone", {}, "s-air", std::chrono::seconds(1), {}});
    phone.connect();
    phone.announce();
    phone.join("p1");
    phone.go_silent();
    const core::device_key key{"alice", "phone"};
    REQUIRE(obs.wait_until([&](const std::vector<received>&) { return !wills(obs, key).empty(); }));
    CHECK(wills(obs, key) == std::vector<std::string>{"s-air"});
    CHECK(obs.messages_on("party/p1/join/alice/phone").size() == 1);
    CHECK(obs.messages_on("presence/connect/alice/phone").size() == 1);
}

TEST_CASE("harness_app_device_takeover_publishes_the_old_sessions_will_clean_disconnect_none") {
    broker b;
    observer obs(b.uri(), {"presence/#"});
    app_device first(b.uri(), {"bob", "tab", {}, "s1", {}, std::chrono::seconds(30)});
    first.connect();
    app_device second(b.uri(), {"bob", "tab", {}, "s2", {}, std::chrono::seconds(30)});
    second.connect();
    const core::device_key key{"bob", "tab"};
    REQUIRE(obs.wait_until([&](const std::vector<received>&) { return !wills(obs, key).empty(); }));
    second.disconnect();
    obs.sync();
    CHECK(wills(obs, key) == std::vector<std::string>{"s1"});
    CHECK(obs.messages_on("presence/connect/bob/tab").size() == 2);
}

TEST_CASE("harness_hardened_plugin_pins_identity_without_a_controller") {
    // hardened.conf loads the presence plugin: tokens instead of passwords, the plugin's ACL.
    broker_options hardened;
    hardened.config = "hardened";
    broker b(hardened);
    const std::string alice_token = mint_test_token("alice");
    observer_options as_controller{"presence-controller", std::string(controller_user),
                                   mint_test_token(controller_user, token::role::controller),
                                   true};
    observer obs(b.uri(), {"presence/#", "party/#"}, as_controller);

    app_device alice(b.uri(), {"alice", "phone", alice_token, "sa", {}, std::chrono::seconds(30)});
    alice.connect();
    alice.publish("party/p/join/bob/phone", wire::encode_session("forged"));
    alice.publish("presence/will/bob/phone", wire::encode_will("forged"));
    alice.join("p");

    raw_device impostor(b.port(), {"alice", "x", alice_token, "s-x", std::chrono::seconds(30), {}});
    impostor.connect();
    impostor.publish("presence/connect/bob/x", wire::encode_connect("forged", {}));

    raw_device forged_will(b.port(), {"alice", "phone2", alice_token, "s-w",
                                      std::chrono::seconds(30), "presence/will/bob/phone"});
    const int forged_will_code = forged_will.try_connect();
    CAPTURE(forged_will_code);
    forged_will.close();  // were the will accepted, this socket close would publish it

raw_device anonymous(b.port(), {"", "anon", {}, "s-anon", std::chrono::seconds(30), {}});
    CHECK(anonymous.try_connect() != 0);
    raw_device wrong_password(b.port(),
                              {"bob", "phone", "nope", "s-b", std::chrono::seconds(30), {}});
    CHECK(wrong_password.try_connect() != 0);

    obs.sync();
    CHECK(obs.messages_on("party/p/join/alice/phone").size() == 1);
    CHECK(obs.messages_on("presence/connect/alice/phone").size() == 1);
    for (const auto& m : obs.messages()) {
        CAPTURE(m.topic);
        CHECK(m.topic.find("/bob/") == std::string::npos);
    }
}
