// Bad input, controller crashes and attackers: the state stays right and nothing leaks.

#include <doctest/doctest.h>

#include <algorithm>

#include "presence/wire/wire.hpp"
#include "presence/testing/tokens.hpp"
#include "stack.hpp"

using namespace presence;
using namespace presence::testing;

namespace {

std::vector<std::string> member_ids(const core::party_snapshot* p) {
    std::vector<std::string> ids;
    if (p != nullptr) {
        for (const auto& m : p->members) ids.push_back(m.user_id);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
}

}  // namespace

TEST_CASE("malformed_input_is_rejected_and_counted") {
    stack s;
    app_device bob(s.broker_.uri(), stack::app("bob", "bob-phone"));
    bob.connect();
    bob.join("good");
    REQUIRE(s.watch->wait_snapshot(
        "good", [](const core::party_snapshot* p) { return is_present(p, "bob"); }));
    REQUIRE(s.watch->wait_stat("inbound_join", [](double v) { return v >= 1; }));
    const auto before = *s.watch->latest_snapshot("good");
    const auto snapshots_before = s.watch->snapshots("good").size();

    // An attacker (or a buggy app) on the development broker, which has no ACL.
    observer& evil = *s.watch;
    evil.publish("party/p1/join/mallory/phone", std::string("\x0a\xff\x01", 3));  // bad protobuf
    evil.publish("party/p1/join/mallory/phone", "{\"session_id\": ");             // bad JSON
    evil.publish("party/p1/join/mallory/phone", "{\"no_such_field\":1}");         // unknown field
    evil.publish("party/good/join/mallory/phone", "{" + std::string(64 * 1024, ' ') + "}");
    evil.publish("party/a b/join/mallory/phone", "{}");    // bad party id
    evil.publish("party/good/join/mal lory/phone", "{}");  // bad user id
    evil.publish("party/good/leave/nobody/phone", "{}");   // not a member

    CHECK(s.watch->wait_stat("rejected_bad_payload", [](double v) { return v >= 3; }));
    CHECK(s.watch->wait_stat("rejected_payload_too_large", [](double v) { return v >= 1; }));
    CHECK(s.watch->wait_stat("rejected_bad_identifier", [](double v) { return v >= 2; }));
    CHECK(s.watch->wait_stat("outcome_unknown", [](double v) { return v >= 1; }));
    CHECK(s.controller_.running());

    // Nothing else changed: no new snapshot of "good", and no party for the garbage.
    s.watch->sync();
    CHECK(s.watch->snapshots("good").size() == snapshots_before);
    CHECK(*s.watch->latest_snapshot("good") == before);
    CHECK(s.watch->snapshots("p1").empty());
    CHECK(s.watch->snapshots("a b").empty());

    // The controller still serves valid input.
    app_device carol(s.broker_.uri(), stack::app("carol", "carol-phone"));
    carol.connect();
    carol.join("good");
    CHECK(s.watch->wait_snapshot("good", [&](const core::party_snapshot* p) {
        return is_present(p, "carol") && is_present(p, "bob") && p->revision > before.revision;
    }));
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("controller_kill9_loses_nothing") {
    stack_options options;
    options.grace = "30s";  // nobody may time out while the controller is down
    stack s(options);
    app_device alice(s.broker_.uri(), stack::app("alice", "alice-phone"));
    app_device bob(s.broker_.uri(), stack::app("bob", "bob-phone"));
    alice.connect();
    bob.connect();
    alice.join("p1");
    bob.join("p1");
    REQUIRE(s.watch->wait_snapshot("p1", [](const core::party_snapshot* p) {
        return member_ids(p) == std::vector<std::string>{"alice", "bob"};
    }));
    const auto before = *s.watch->latest_snapshot("p1");

    s.controller_.kill9();
    // While the controller is dead, the broker queues these for its persistent session.
    app_device carol(s.broker_.uri(), stack::app("carol", "carol-phone"));
    app_device dave(s.broker_.uri(), stack::app("dave", "dave-tab"));
    carol.connect();
    dave.connect();
    carol.join("p1");
    dave.join("p2");
    bob.leave("p1");

    s.controller_.start_ready();
    REQUIRE(s.watch->wait_snapshot("p1", [](const core::party_snapshot* p) {
        return member_ids(p) == std::vector<std::string>{"alice", "carol"};
    }));
    REQUIRE(s.watch->wait_snapshot("p2", [](const core::party_snapshot* p) {
        return member_ids(p) == std::vector<std::string>{"dave"};
    }));
    const auto after = *s.watch->latest_snapshot("p1");
    CHECK(after.revision > before.revision);
    CHECK(is_present(&after, "alice"));
    CHECK(is_present(&after, "carol"));
    // Alice's membership is the same one as before the crash, not a new join.
    CHECK(find_member(&after, "alice")->joined_at == find_member(&before, "alice")->joined_at);
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("hardened_config_refuses_impersonation") {
    // hardened.conf loads the presence plugin: every client shows a token for its username.
    stack_options options;
    options.broker.config = "hardened";
    options.controller_username = std::string(controller_user);
    options.controller_password = mint_test_token(controller_user, token::role::controller);
    // An ordinary authenticated user watching: the ACL lets everyone read the public outputs.
    options.observer = {"watcher-screen", "watcher", mint_test_token("watcher"), false};
    stack s(options);

    const std::string alice_token = mint_test_token("alice");
    app_options alice_opts = stack::app("alice", "alice-phone");
    alice_opts.password = alice_token;
    app_device alice(s.broker_.uri(), alice_opts);
    alice.connect();
    // Impersonation attempts: a join, a leave and a will on bob's behalf, a connect for him.
    alice.publish("presence/connect/bob/phone", wire::encode_connect("forged", {}));
    alice.publish("party/p1/join/bob/phone", wire::encode_session("forged"));
    alice.publish("presence/will/bob/phone", wire::encode_will("forged"));
    raw_device forged_will(s.broker_.port(), {"alice", "phone2", alice_token, "forged",
                                              std::chrono::seconds(30), "presence/will/bob/phone"});
    if (forged_will.try_connect() == 0) forged_will.close();  // a will, were it accepted
    // Anonymous and bad-token clients are refused outright (CONNACK 5, not authorised).
    raw_device anonymous(s.broker_.port(), {"", "anon", {}, {}, std::chrono::seconds(30), {}});
    CHECK(anonymous.try_connect() == 5);
    raw_device guesser(s.broker_.port(),
                       {"bob", "phone", "guess", {}, std::chrono::seconds(30), {}});
    CHECK(guesser.try_connect() == 5);

    // Alice's own join goes through the same broker -> controller path after the forgeries.
    alice.join("p1");
    REQUIRE(s.watch->wait_snapshot(
        "p1", [](const core::party_snapshot* p) { return is_present(p, "alice"); }));
    for (const auto& snap : s.watch->snapshots("p1")) {
        CHECK(find_member(snap ? &*snap : nullptr, "bob") == nullptr);
    }
    for (const auto& m : s.watch->messages()) {
        CAPTURE(m.topic);
        CHECK(m.topic.find("bob") == std::string::npos);
    }
    const auto final_snapshot = s.watch->latest_snapshot("p1");
    REQUIRE(final_snapshot);
    CHECK(member_ids(&*final_snapshot) == std::vector<std::string>{"alice"});
    CHECK(stop_controller(s) == 0);
}
