// Engine scenarios: lost connections, the grace period, reconnects and session races.

#include <doctest/doctest.h>

#include "test_engine_fixture.hpp"

using namespace presence::core;
using namespace presence::core::testing;

TEST_SUITE("engine grace") {
    TEST_CASE_FIXTURE(engine_fixture, "airplane mode: reconnecting, then left after the grace") {
        present("p", "alice", "phone", "s1");
        present("p", "bob", "phone", "s2");
        const auto lost_at = now;
        CHECK(will("alice", "phone", "s1") == outcome::applied);
        auto fx_ = take();
        CHECK(kinds(fx_) == std::vector{fx::snapshot, fx::event, fx::user});
        const auto ev = events_of(fx_).at(0);
        CHECK(ev.kind == event_kind::reconnecting);
        CHECK(ev.member.state == member_state::reconnecting);
        CHECK(ev.member.reconnect_deadline == lost_at + grace);
        CHECK(ev.member.devices.at(0).state == device_state::reconnecting);
        CHECK(member("p", "alice")->state == member_state::reconnecting);
        CHECK_FALSE(users_of(fx_).at(0).online);
        CHECK(users_of(fx_).at(0).last_seen == lost_at);
        CHECK(eng.next_deadline() == lost_at + grace);

        advance(grace - 1ms);
        tick();
        CHECK(take().empty());
        CHECK(member("p", "alice") != nullptr);

        advance(1ms);
        tick();
        fx_ = take();
        CHECK(kinds(fx_) == std::vector{fx::snapshot, fx::event, fx::user});
        const auto left = events_of(fx_).at(0);
        CHECK(left.kind == event_kind::left);
        CHECK(left.reason == leave_reason::timeout);
        CHECK(left.member.user_id == "alice");
        CHECK(member("p", "alice") == nullptr);
        const auto final_record = users_of(fx_).at(0);
        CHECK(final_record.last_seen == lost_at);
        CHECK(final_record.devices.empty());
        CHECK_FALSE(eng.user("alice").has_value());
        CHECK_FALSE(eng.next_deadline().has_value());
    }

    TEST_CASE_FIXTURE(engine_fixture, "reconnect within the grace comes back without a leave") {
        present("p", "alice", "phone", "s1");
        will("alice", "phone", "s1");
        take();
        advance(90s);
        CHECK(connect("alice", "phone", "s2") == outcome::applied);
        auto fx_ = take();
        CHECK(kinds(fx_) == std::vector{fx::snapshot, fx::event, fx::user});
        const auto ev = events_of(fx_).at(0);
        CHECK(ev.kind == event_kind::back);
        CHECK(ev.member.state == member_state::present);
        CHECK(ev.member.devices.at(0).session_id == "s2");
        CHECK_FALSE(eng.next_deadline().has_value());
        advance(10min);
        tick();
        CHECK(take().empty());
        CHECK(member("p", "alice")->state == member_state::present);
    }

    TEST_CASE_FIXTURE(engine_fixture, "a stale will after a takeover is ignored") {
        present("p", "alice", "phone", "s1");
        CHECK(connect("alice", "phone", "s2") == outcome::applied);
        const auto evs = events_of(take());
        REQUIRE(evs.size() == 1);
        CHECK(evs[0].kind == event_kind::updated);  // the device's session changed
        CHECK(will("alice", "phone", "s1") == outcome::stale);
        CHECK(take().empty());
        CHECK(member("p", "alice")->state == member_state::present);
        CHECK_FALSE(eng.next_deadline().has_value());
    }

    TEST_CASE_FIXTURE(engine_fixture, "a duplicate will is a duplicate and keeps the deadline") {
        present("p", "alice", "phone", "s1");
        will("alice", "phone", "s1");
        take();
        const auto deadline = eng.next_deadline();
        advance(30s);
        CHECK(will("alice", "phone", "s1") == outcome::duplicate);
        CHECK(take().empty());
        CHECK(eng.next_deadline() == deadline);
    }

    TEST_CASE_FIXTURE(engine_fixture, "a late duplicate connect of a dead session is stale") {
        present("p", "alice", "phone", "s1");
        will("alice", "phone", "s1");
        take();
        CHECK(connect("alice", "phone", "s1") == outcome::stale);
        CHECK(join("p", "alice", "phone", "s1") == outcome::stale);
        CHECK(leave("p", "alice", "phone", "s1") == outcome::stale);
        CHECK(take().empty());
        CHECK(member("p", "alice")->state == member_state::reconnecting);
    }

    TEST_CASE_FIXTURE(engine_fixture, "a late connect of an expired session stays stale") {
        present("p", "alice", "phone", "s1");
        will("alice", "phone", "s1");
        advance(grace);
        tick();
        take();
        CHECK(connect("alice", "phone", "s1") == outcome::stale);
        CHECK(will("alice", "phone", "s1") == outcome::stale);
        CHECK(will("alice", "phone", "other") == outcome::unknown);
        CHECK(connect("alice", "phone", "s2") == outcome::applied);
        CHECK(connect("alice", "phone", "s1") == outcome::stale);
    }

    TEST_CASE_FIXTURE(engine_fixture, "a will naming an older session is stale") {
        present("p", "alice", "phone", "s1");
        connect("alice", "phone", "s2");
        connect("alice", "phone", "s3");
        CHECK(will("alice", "phone", "s2") == outcome::stale);
        CHECK(will("alice", "phone", "zzz") == outcome::stale);
        CHECK(will("bob", "phone", "s1") == outcome::unknown);
    }

    TEST_CASE_FIXTURE(engine_fixture, "the ended-session ring is bounded") {
        connect("alice", "phone", "s0");
        for (int i = 1; i <= 6; ++i) connect("alice", "phone", "s" + std::to_string(i));
        // The ring keeps 4: s2..s5 are stale, s0 and s1 were evicted and count as new sessions.
        CHECK(connect("alice", "phone", "s5") == outcome::stale);
        CHECK(connect("alice", "phone", "s2") == outcome::stale);
        CHECK(connect("alice", "phone", "s0") == outcome::applied);
    }

    TEST_CASE_FIXTURE(engine_fixture, "multi-device: one lost keeps the member present") {
        present("p", "alice", "phone", "s1");
        connect("alice", "laptop", "s2");
        join("p", "alice", "laptop", "s2");
        take();

        CHECK(will("alice", "phone", "s1") == outcome::applied);
        auto evs = events_of(take());
        REQUIRE(evs.size() == 1);
        CHECK(evs[0].kind == event_kind::updated);
        CHECK(evs[0].member.state == member_state::present);

        advance(10s);
        CHECK(will("alice", "laptop", "s2") == outcome::applied);
        evs = events_of(take());
        REQUIRE(evs.size() == 1);
        CHECK(evs[0].kind == event_kind::reconnecting);
        CHECK(evs[0].member.reconnect_deadline == now + grace);  // the latest device deadline

        CHECK(connect("alice", "phone", "s3") == outcome::applied);
        evs = events_of(take());
        REQUIRE(evs.size() == 1);
        CHECK(evs[0].kind == event_kind::back);

        advance(grace);
        tick();  // the laptop expires; the phone keeps the member
        evs = events_of(take());
        REQUIRE(evs.size() == 1);
        CHECK(evs[0].kind == event_kind::updated);
        REQUIRE(member("p", "alice") != nullptr);
        CHECK(member("p", "alice")->devices.size() == 1);
    }

    TEST_CASE_FIXTURE(engine_fixture, "a lost device outside any party still expires") {
        connect("alice", "phone", "s1");
        connect("alice", "watch", "s2");
        take();
        CHECK(will("alice", "watch", "s2") == outcome::applied);
        auto users = users_of(take());
        REQUIRE(users.size() == 1);
        CHECK(users[0].online);  // the phone is still live
        CHECK(users[0].devices.at(1).state == device_state::reconnecting);
        advance(grace);
        tick();
        users = users_of(take());
        REQUIRE(users.size() == 1);
        CHECK(users[0].devices.size() == 1);
    }

    TEST_CASE_FIXTURE(engine_fixture, "a join without session does not revive a lost device") {
        present("p", "alice", "phone", "s1");
        will("alice", "phone", "s1");
        take();
        CHECK(join("q", "alice", "phone") == outcome::applied);
        const auto evs = events_of(take());
        REQUIRE(evs.size() == 1);
        CHECK(evs[0].kind == event_kind::joined);
        CHECK(evs[0].member.state == member_state::reconnecting);
        CHECK(member("p", "alice")->state == member_state::reconnecting);
    }

    TEST_CASE_FIXTURE(engine_fixture, "tick coalesces many expiries into one snapshot per party") {
        present("p", "host", "d", "h");
        for (int i = 0; i < 50; ++i) {
            const auto user = "u" + std::to_string(i);
            present("p", user, "d", "s");
            will(user, "d", "s");
        }
        take();
        const auto rev = eng.snapshot("p")->revision;
        advance(grace);
        tick();
        const auto fx_ = take();
        CHECK(snapshots_of(fx_).size() == 1);
        const auto evs = events_of(fx_);
        CHECK(evs.size() == 50);
        for (const auto& ev : evs) {
            CHECK(ev.kind == event_kind::left);
            CHECK(ev.revision == rev + 1);
        }
        CHECK(kinds(fx_).front() == fx::snapshot);
        CHECK(eng.snapshot("p")->revision == rev + 1);
        CHECK(eng.snapshot("p")->members.size() == 1);
        CHECK(users_of(fx_).size() == 50);
        CHECK(eng.stats().users == 1);
    }

    TEST_CASE_FIXTURE(engine_fixture, "expiry follows deadline order, then arming order") {
        present("p", "host", "d", "h");
        present("p", "b", "d", "s");
        present("p", "a", "d", "s");
        present("p", "c", "d", "s");
        will("b", "d", "s");
        will("a", "d", "s");
        advance(1s);
        will("c", "d", "s");
        take();
        advance(grace);
        tick();
        std::vector<std::string> order;
        for (const auto& ev : events_of(take())) order.push_back(ev.member.user_id);
        CHECK(order == std::vector<std::string>{"b", "a", "c"});
    }

    TEST_CASE_FIXTURE(engine_fixture, "revisions strictly increase across a whole scenario") {
        std::uint64_t last = 0;
        auto check = [&] {
            for (const auto& ev : events_of(take())) {
                CHECK(ev.revision > last);
                last = ev.revision;
            }
        };
        present("p", "alice", "phone", "s1");
        last = eng.snapshot("p")->revision;
        join("p", "bob", "phone", "s2");
        check();
        will("alice", "phone", "s1");
        check();
        advance(1min);
        connect("alice", "phone", "s3");
        check();
        will("bob", "phone", "s2");
        check();
        advance(grace);
        tick();
        check();
        leave("p", "alice", "phone");
        check();
    }

    TEST_CASE("a dead session is stale even when no ended sessions are kept") {
        // ended_sessions_kept = 0 still remembers the dead current session: the ended list is
        // the engine's only record of it, so it always holds at least that one.
        engine eng{engine_config{2min, 0}};
        const time_point now{1'700'000'000'000ms};
        const device_key phone{"alice", "phone"};
        REQUIRE(eng.on_connect(phone, "s1", {}, now) == outcome::applied);
        REQUIRE(eng.on_join("p", phone, "s1", now) == outcome::applied);
        REQUIRE(eng.on_will(phone, "s1", now) == outcome::applied);
        CHECK(eng.on_will(phone, "s1", now) == outcome::duplicate);
        CHECK(eng.on_connect(phone, "s1", {}, now) == outcome::stale);
        CHECK(eng.on_join("p", phone, "s1", now) == outcome::stale);
        CHECK(eng.snapshot("p")->members.at(0).state == member_state::reconnecting);
        // A new session revives the device, and the previous one stays dead.
        CHECK(eng.on_connect(phone, "s2", {}, now) == outcome::applied);
        CHECK(eng.snapshot("p")->members.at(0).state == member_state::present);
        CHECK(eng.on_connect(phone, "s1", {}, now) == outcome::stale);
    }
}
