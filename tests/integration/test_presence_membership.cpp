// Membership as a party screen sees it: joins, leaves, lost connections, reconnects, several
// devices, sign-out, takeovers. Each case runs its own broker and controller.

#include <doctest/doctest.h>

#include "presence/wire/wire.hpp"
#include "stack.hpp"

using namespace presence;
using namespace presence::testing;
using core::event_kind;
using core::leave_reason;
using core::member_state;

namespace {

auto event_of(std::string_view user, event_kind kind) {
    return [user, kind](const core::party_event& e) {
        return e.member.user_id == user && e.kind == kind;
    };
}

auto left_because(std::string_view user, leave_reason reason) {
    return [user, reason](const core::party_event& e) {
        return e.member.user_id == user && e.kind == event_kind::left && e.reason == reason;
    };
}

}  // namespace

TEST_CASE("join_is_visible_to_observers") {
    stack s;
    app_device alice(s.broker_.uri(), stack::app("alice", "alice-phone"));
    alice.connect();
    alice.join("p1");

    REQUIRE(s.watch->wait_snapshot(
        "p1", [](const core::party_snapshot* p) { return is_present(p, "alice"); }));
    CHECK(s.watch->wait_event("p1", event_of("alice", event_kind::joined)));
    const auto snap = s.watch->latest_snapshot("p1");
    REQUIRE(snap);
    CHECK(snap->party_id == "p1");
    REQUIRE(snap->members.size() == 1);
    const auto& member = snap->members[0];
    CHECK(member.profile.display_name == "alice");
    REQUIRE(member.devices.size() == 1);
    CHECK(member.devices[0].device_id == "alice-phone");
    CHECK(member.devices[0].state == core::device_state::live);

    // Someone opening the party screen later gets the same snapshot, retained.
    observer late(s.broker_.uri(), {"party/p1/members"});
    REQUIRE(late.wait_snapshot("p1", [](const core::party_snapshot* p) { return p != nullptr; }));
    CHECK(late.messages_on("party/p1/members").front().retained);
    CHECK(*late.latest_snapshot("p1") == *snap);
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("explicit_leave_removes_at_once") {
    stack s;
    app_device alice(s.broker_.uri(), stack::app("alice", "alice-phone"));
    app_device bob(s.broker_.uri(), stack::app("bob", "bob-phone"));
    alice.connect();
    bob.connect();
    alice.join("p1");
    bob.join("p1");
    REQUIRE(s.watch->wait_snapshot("p1", [](const core::party_snapshot* p) {
        return is_present(p, "alice") && is_present(p, "bob");
    }));

    alice.leave("p1");
    REQUIRE(s.watch->wait_snapshot("p1", [](const core::party_snapshot* p) {
        return p != nullptr && find_member(p, "alice") == nullptr && is_present(p, "bob");
    }));
    CHECK(s.watch->wait_event("p1", left_because("alice", leave_reason::explicit_leave)));

    bob.leave("p1");
    CHECK(s.watch->wait_event("p1", left_because("bob", leave_reason::explicit_leave)));
    REQUIRE(s.watch->wait_snapshot("p1", [](const core::party_snapshot* p) { return !p; }));

    // The emptied party's retained messages are gone: a fresh subscriber gets nothing.
    observer fresh(s.broker_.uri(), {"party/p1/members", "party/p1/members/json"});
    fresh.sync();
    CHECK(fresh.messages_on("party/p1/members").empty());
    CHECK(fresh.messages_on("party/p1/members/json").empty());
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("airplane_mode_goes_reconnecting_then_left") {
    stack s;  // grace 2 s
    raw_device phone(s.broker_.port(), {"alice", "phone", {}, {}, std::chrono::seconds(1), {}});
    phone.connect();
    phone.announce();
    phone.join("p1");
    REQUIRE(s.watch->wait_snapshot(
        "p1", [](const core::party_snapshot* p) { return is_present(p, "alice"); }));

    phone.go_silent();
    REQUIRE(s.watch->wait_snapshot("p1", [](const core::party_snapshot* p) {
        const auto* m = find_member(p, "alice");
        return m != nullptr && m->state == member_state::reconnecting;
    }));
    const auto reconnecting = s.watch->latest_snapshot("p1");
    const auto* member = find_member(&*reconnecting, "alice");
    REQUIRE(member != nullptr);
    CHECK(member->reconnect_deadline > member->joined_at);
    REQUIRE(member->devices.size() == 1);
    CHECK(member->devices[0].state == core::device_state::reconnecting);
    CHECK(s.watch->wait_event("p1", event_of("alice", event_kind::reconnecting)));

    CHECK(s.watch->wait_event("p1", left_because("alice", leave_reason::timeout)));
    CHECK(s.watch->wait_snapshot(
        "p1", [](const core::party_snapshot* p) { return find_member(p, "alice") == nullptr; }));
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("reconnect_within_grace_never_flickers") {
    stack_options options;
    options.grace = "20s";  // far longer than a reconnect takes on a loaded machine
    stack s(options);
    raw_device first_link(s.broker_.port(),
                          {"alice", "alice-phone", {}, {}, std::chrono::seconds(30), {}});
    first_link.connect();
    first_link.announce();
    first_link.join("p1");
    REQUIRE(s.watch->wait_snapshot(
        "p1", [](const core::party_snapshot* p) { return is_present(p, "alice"); }));

    first_link.close();  // the link breaks: the broker publishes the will at once
    REQUIRE(s.watch->wait_event("p1", event_of("alice", event_kind::reconnecting)));

    app_device second_link(s.broker_.uri(), stack::app("alice", "alice-phone"));
    second_link.connect();
    second_link.join("p1");
    REQUIRE(s.watch->wait_event("p1", event_of("alice", event_kind::back)));
    REQUIRE(s.watch->wait_snapshot(
        "p1", [](const core::party_snapshot* p) { return is_present(p, "alice"); }));

    // From the first snapshot listing alice on, every snapshot lists her: no leave/join flicker.
    const auto snaps = s.watch->snapshots("p1");
    bool listed = false;
    for (const auto& snap : snaps) {
        const bool has_alice = snap && find_member(&*snap, "alice") != nullptr;
        if (listed) CHECK(has_alice);
        listed = listed || has_alice;
    }
    for (const auto& e : s.watch->events("p1")) CHECK(e.kind != event_kind::left);
    const auto final_snapshot = s.watch->latest_snapshot("p1");
    REQUIRE(final_snapshot);
    const auto* final_member = find_member(&*final_snapshot, "alice");
    REQUIRE(final_member != nullptr);
    REQUIRE(final_member->devices.size() == 1);
    CHECK(s.watch->recorded_device("alice", "alice-phone")->session_id == second_link.session());
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("takeover_with_stale_will_is_ignored") {
    stack_options options;
    options.grace = "20s";
    stack s(options);
    app_options o1 = stack::app("alice", "alice-phone");
    o1.session = "s1";
    app_device old_link(s.broker_.uri(), o1);
    old_link.connect();
    old_link.join("p1");
    REQUIRE(s.watch->wait_snapshot(
        "p1", [](const core::party_snapshot* p) { return is_present(p, "alice"); }));

    app_options o2 = stack::app("alice", "alice-phone");
    o2.session = "s2";
    app_device new_link(s.broker_.uri(), o2);  // same client id: the broker takes over
    new_link.connect();
    new_link.join("p1");
    REQUIRE(s.watch->wait_snapshot("p1", [](const core::party_snapshot* p) {
        const auto* m = find_member(p, "alice");
        return is_present(p, "alice") && m->devices.size() == 1;
    }));
    REQUIRE(s.watch->wait_until([&](const auto&) {
        const auto d = s.watch->recorded_device("alice", "alice-phone");
        return d && d->session_id == "s2";
    }));

    // The old session's will, delivered late (a retry, a slow path): it must change nothing.
    s.watch->publish("presence/will/alice/alice-phone", wire::encode_will("s1"));
    REQUIRE(s.watch->wait_stat("outcome_stale", [](double v) { return v > 0; }));
    s.watch->sync();
    const auto snap = s.watch->latest_snapshot("p1");
    REQUIRE(snap);
    const auto* member = find_member(&*snap, "alice");
    REQUIRE(member != nullptr);
    CHECK(member->state == member_state::present);
    CHECK(member->devices[0].state == core::device_state::live);
    for (const auto& e : s.watch->events("p1")) CHECK(e.kind != event_kind::left);
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("multi_device") {
    stack_options options;
    options.grace = "8s";
    stack s(options);
    raw_device phone(s.broker_.port(),
                     {"alice", "alice-phone", {}, {}, std::chrono::seconds(30), {}});
    phone.connect();
    phone.announce();
    phone.join("p1");
    app_device laptop(s.broker_.uri(), stack::app("alice", "alice-laptop"));
    laptop.connect();
    laptop.join("p1");
    REQUIRE(s.watch->wait_snapshot("p1", [](const core::party_snapshot* p) {
        const auto* m = find_member(p, "alice");
        return m != nullptr && m->devices.size() == 2;
    }));
    CHECK(s.watch->latest_snapshot("p1")->members.size() == 1);  // one member, two devices

    phone.close();  // the phone is lost; the laptop is still live
    REQUIRE(s.watch->wait_snapshot("p1", [](const core::party_snapshot* p) {
        const auto* m = find_member(p, "alice");
        if (m == nullptr || m->state != member_state::present || m->devices.size() != 2) {
            return false;
        }
        return m->devices[0].device_id == "alice-laptop" &&
               m->devices[0].state == core::device_state::live &&
               m->devices[1].device_id == "alice-phone" &&
               m->devices[1].state == core::device_state::reconnecting;
    }));

    // The laptop leaves; the lost phone is still in the party, so alice is listed as
    // reconnecting until the phone's grace runs out, then she leaves with reason timeout.
    laptop.leave("p1");
    REQUIRE(s.watch->wait_snapshot("p1", [](const core::party_snapshot* p) {
        const auto* m = find_member(p, "alice");
        return m != nullptr && m->state == member_state::reconnecting && m->devices.size() == 1 &&
               m->devices[0].device_id == "alice-phone";
    }));
    CHECK(s.watch->wait_event("p1", left_because("alice", leave_reason::timeout)));
    CHECK(s.watch->wait_snapshot("p1", [](const core::party_snapshot* p) { return !p; }));
    for (const auto& e : s.watch->events("p1")) {
        CHECK_FALSE((e.kind == event_kind::left && e.reason == leave_reason::explicit_leave));
    }
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("sign_out_leaves_every_party") {
    stack s;
    app_device alice(s.broker_.uri(), stack::app("alice", "alice-phone"));
    app_device bob(s.broker_.uri(), stack::app("bob", "bob-phone"));
    alice.connect();
    bob.connect();
    alice.join("p1");
    alice.join("p2");
    bob.join("p2");
    REQUIRE(s.watch->wait_snapshot("p2", [](const core::party_snapshot* p) {
        return is_present(p, "alice") && is_present(p, "bob");
    }));
    REQUIRE(s.watch->wait_snapshot(
        "p1", [](const core::party_snapshot* p) { return is_present(p, "alice"); }));

    alice.sign_out();
    CHECK(s.watch->wait_event("p1", left_because("alice", leave_reason::sign_out)));
    CHECK(s.watch->wait_event("p2", left_because("alice", leave_reason::sign_out)));
    CHECK(s.watch->wait_snapshot("p1", [](const core::party_snapshot* p) { return !p; }));
    CHECK(s.watch->wait_snapshot("p2", [](const core::party_snapshot* p) {
        return p != nullptr && p->members.size() == 1 && is_present(p, "bob");
    }));
    CHECK(stop_controller(s) == 0);
}
