// Engine scenarios: joining, leaving, revisions, emptied parties, profiles and user records.

#include <doctest/doctest.h>

#include "test_engine_fixture.hpp"

using namespace presence::core;
using namespace presence::core::testing;

TEST_SUITE("engine membership") {
    TEST_CASE_FIXTURE(engine_fixture, "join publishes a snapshot, a joined event, then the user") {
        CHECK(connect("alice", "phone", "s1", named("Alice")) == outcome::applied);
        take();
        CHECK(join("p", "alice", "phone") == outcome::applied);
        const auto fx_ = take();
        CHECK(kinds(fx_) == std::vector{fx::snapshot, fx::event, fx::user});
        const auto snap = snapshots_of(fx_).at(0);
        CHECK(snap.party_id == "p");
        CHECK(snap.updated_at == now);
        REQUIRE(snap.members.size() == 1);
        CHECK(snap.members[0].user_id == "alice");
        CHECK(snap.members[0].state == member_state::present);
        CHECK(snap.members[0].profile == named("Alice"));
        CHECK(snap.members[0].joined_at == now);
        REQUIRE(snap.members[0].devices.size() == 1);
        CHECK(snap.members[0].devices[0].session_id == "s1");
        const auto ev = events_of(fx_).at(0);
        CHECK(ev.kind == event_kind::joined);
        CHECK(ev.revision == snap.revision);
        CHECK(ev.member == snap.members[0]);
        CHECK(ev.at == now);
        const auto user = users_of(fx_).at(0);
        CHECK(user.online);
        CHECK(user.parties == std::vector<std::string>{"p"});
        CHECK(eng.snapshot("p") == snap);
    }

    TEST_CASE_FIXTURE(engine_fixture, "first revision is seeded from the clock") {
        join("p", "alice", "phone", "s1");
        CHECK(eng.snapshot("p")->revision == 1'700'000'000'000'000ULL);
    }

    TEST_CASE_FIXTURE(engine_fixture, "join of an unknown device creates it live") {
        CHECK(join("p", "bob", "tablet") == outcome::applied);
        const auto* m = member("p", "bob");
        REQUIRE(m != nullptr);
        CHECK(m->state == member_state::present);
        CHECK(m->devices.at(0).session_id.empty());
        CHECK(eng.user("bob")->online);
    }

    TEST_CASE_FIXTURE(engine_fixture, "duplicate join changes nothing") {
        present("p", "alice", "phone", "s1");
        const auto before = eng.snapshot("p");
        CHECK(join("p", "alice", "phone", "s1") == outcome::duplicate);
        CHECK(join("p", "alice", "phone") == outcome::duplicate);
        CHECK(take().empty());
        CHECK(eng.snapshot("p") == before);
    }

    TEST_CASE_FIXTURE(engine_fixture, "join naming a new session is a new connection") {
        present("p", "alice", "phone", "s1");
        CHECK(join("q", "alice", "phone", "s2") == outcome::applied);
        CHECK(member("p", "alice")->devices.at(0).session_id == "s2");
        CHECK(member("q", "alice") != nullptr);
        CHECK(connect("alice", "phone", "s1") == outcome::stale);
    }

    TEST_CASE_FIXTURE(engine_fixture, "members are listed in join order") {
        present("p", "zed", "d", "s1");
        advance(1s);
        present("p", "amy", "d", "s2");
        advance(1s);
        present("p", "bob", "d", "s3");
        std::vector<std::string> order;
        const auto snap = *eng.snapshot("p");
        for (const auto& m : snap.members) order.push_back(m.user_id);
        CHECK(order == std::vector<std::string>{"zed", "amy", "bob"});
    }

    TEST_CASE_FIXTURE(engine_fixture,
                      "explicit leave removes at once and clears an emptied party") {
        present("p", "alice", "phone", "s1");
        present("p", "bob", "phone", "s2");
        CHECK(leave("p", "alice", "phone", "s1") == outcome::applied);
        auto fx_ = take();
        CHECK(kinds(fx_) == std::vector{fx::snapshot, fx::event, fx::user});
        const auto ev = events_of(fx_).at(0);
        CHECK(ev.kind == event_kind::left);
        CHECK(ev.reason == leave_reason::explicit_leave);
        CHECK(ev.member.user_id == "alice");
        CHECK(member("p", "alice") == nullptr);
        CHECK(eng.user("alice")->parties.empty());

        CHECK(leave("p", "bob", "phone") == outcome::applied);
        fx_ = take();
        CHECK(kinds(fx_) == std::vector{fx::clear, fx::event, fx::user});
        CHECK(cleared_of(fx_) == std::vector<std::string>{"p"});
        CHECK(events_of(fx_).at(0).kind == event_kind::left);
        CHECK_FALSE(eng.snapshot("p").has_value());
        CHECK(eng.party_ids().empty());
    }

    TEST_CASE_FIXTURE(engine_fixture, "leave of an unknown party or membership is unknown") {
        present("p", "alice", "phone", "s1");
        CHECK(leave("nope", "alice", "phone") == outcome::unknown);
        CHECK(leave("p", "carol", "phone") == outcome::unknown);
        CHECK(leave("p", "alice", "laptop") == outcome::unknown);
        CHECK(take().empty());
    }

    TEST_CASE_FIXTURE(engine_fixture, "leave naming another session is stale") {
        present("p", "alice", "phone", "s1");
        CHECK(leave("p", "alice", "phone", "other") == outcome::stale);
        CHECK(member("p", "alice") != nullptr);
    }

    TEST_CASE_FIXTURE(engine_fixture, "re-created party gets a greater revision") {
        present("p", "alice", "phone", "s1");
        leave("p", "alice", "phone");
        const auto last = events_of(take()).at(0).revision;
        join("p", "alice", "phone");  // same millisecond: the clock seed alone would repeat
        CHECK(eng.snapshot("p")->revision > last);
    }

    TEST_CASE_FIXTURE(engine_fixture, "each applied call bumps a party's revision by one") {
        present("p", "alice", "phone", "s1");
        auto rev = eng.snapshot("p")->revision;
        join("p", "bob", "phone", "s2");
        CHECK(eng.snapshot("p")->revision == rev + 1);
        set_profile("bob", named("Bobby"));
        CHECK(eng.snapshot("p")->revision == rev + 2);
        join("p", "alice", "phone");  // duplicate: no bump
        CHECK(eng.snapshot("p")->revision == rev + 2);
    }

    TEST_CASE_FIXTURE(engine_fixture, "profile update fans out to every party of the user") {
        present("p", "alice", "phone", "s1");
        join("q", "alice", "phone");
        take();
        CHECK(set_profile("alice", named("Al")) == outcome::applied);
        const auto fx_ = take();
        CHECK(kinds(fx_) ==
              std::vector{fx::snapshot, fx::event, fx::snapshot, fx::event, fx::user});
        for (const auto& ev : events_of(fx_)) {
            CHECK(ev.kind == event_kind::updated);
            CHECK(ev.member.profile == named("Al"));
        }
        CHECK(users_of(fx_).at(0).profile == named("Al"));
        CHECK(set_profile("alice", named("Al")) == outcome::duplicate);
        CHECK(set_profile("nobody", named("X")) == outcome::unknown);
        CHECK(take().empty());
    }

    TEST_CASE_FIXTURE(engine_fixture, "connect with a new profile on the same session updates it") {
        present("p", "alice", "phone", "s1");
        CHECK(connect("alice", "phone", "s1") == outcome::duplicate);
        CHECK(connect("alice", "phone", "s1", named("alice")) == outcome::duplicate);
        CHECK(connect("alice", "phone", "s1", named("Ally")) == outcome::applied);
        const auto evs = events_of(take());
        REQUIRE(evs.size() == 1);
        CHECK(evs[0].kind == event_kind::updated);
        CHECK(member("p", "alice")->profile == named("Ally"));
    }

    TEST_CASE_FIXTURE(engine_fixture, "sign-out leaves every party and forgets the user") {
        present("p", "alice", "phone", "s1");
        join("q", "alice", "phone");
        present("q", "bob", "phone", "s2");
        CHECK(sign_out("alice", "phone", "s1") == outcome::applied);
        const auto fx_ = take();
        CHECK(kinds(fx_) == std::vector{fx::clear, fx::event, fx::snapshot, fx::event, fx::user});
        for (const auto& ev : events_of(fx_)) {
            CHECK(ev.kind == event_kind::left);
            CHECK(ev.reason == leave_reason::sign_out);
        }
        const auto final_record = users_of(fx_).at(0);
        CHECK_FALSE(final_record.online);
        CHECK(final_record.last_seen == now);
        CHECK(final_record.devices.empty());
        CHECK(final_record.parties.empty());
        CHECK_FALSE(eng.user("alice").has_value());
        CHECK(eng.stats().users == 1);
        CHECK(connect("alice", "phone", "s1") == outcome::stale);
        CHECK(sign_out("alice", "phone") == outcome::unknown);
    }

    TEST_CASE_FIXTURE(engine_fixture, "sign-out of one device keeps the member via another") {
        present("p", "alice", "phone", "s1");
        connect("alice", "laptop", "s2");
        join("p", "alice", "laptop", "s2");
        take();
        CHECK(sign_out("alice", "phone") == outcome::applied);
        const auto evs = events_of(take());
        REQUIRE(evs.size() == 1);
        CHECK(evs[0].kind == event_kind::updated);
        CHECK(member("p", "alice")->devices.size() == 1);
        CHECK(sign_out("alice", "phone", "s1") == outcome::stale);
    }

    TEST_CASE_FIXTURE(engine_fixture, "a sign-out arriving after its session's will applies") {
        present("p", "alice", "phone", "s1");
        will("alice", "phone", "s1");
        take();
        CHECK(member("p", "alice")->state == member_state::reconnecting);
        CHECK(sign_out("alice", "phone", "s2") == outcome::stale);
        CHECK(sign_out("alice", "phone", "s1") == outcome::applied);
        const auto evs = events_of(take());
        REQUIRE(evs.size() == 1);
        CHECK(evs[0].kind == event_kind::left);
        CHECK(evs[0].reason == leave_reason::sign_out);
        CHECK_FALSE(eng.user("alice").has_value());
        CHECK_FALSE(eng.next_deadline().has_value());
    }

    TEST_CASE_FIXTURE(engine_fixture, "user presence lists devices and parties sorted") {
        connect("alice", "phone", "s1");
        connect("alice", "laptop", "s2");
        join("zeta", "alice", "phone");
        join("alpha", "alice", "laptop");
        const auto u = eng.user("alice");
        REQUIRE(u.has_value());
        REQUIRE(u->devices.size() == 2);
        CHECK(u->devices[0].device_id == "laptop");
        CHECK(u->devices[1].device_id == "phone");
        CHECK(u->parties == std::vector<std::string>{"alpha", "zeta"});
    }

    TEST_CASE_FIXTURE(engine_fixture, "stats count parties, members, devices and users") {
        present("p", "alice", "phone", "s1");
        present("p", "bob", "phone", "s2");
        join("q", "bob", "phone");
        connect("bob", "laptop", "s3");
        will("alice", "phone", "s1");
        const auto s = eng.stats();
        CHECK(s.parties == 2);
        CHECK(s.members == 3);
        CHECK(s.reconnecting_members == 1);
        CHECK(s.devices == 3);
        CHECK(s.live_devices == 2);
        CHECK(s.users == 2);
    }
}

TEST_SUITE("engine deferred snapshots") {
    TEST_CASE("a burst of inputs publishes one snapshot per party, first") {
        engine_config config;
        config.defer_snapshots = true;
        engine eng{config};
        const time_point now{1'700'000'000'000ms};
        eng.on_join("p", {"alice", "phone"}, "s1", now);
        eng.on_join("p", {"bob", "phone"}, "s2", now);
        eng.on_join("q", {"bob", "phone"}, "", now);
        eng.on_leave("q", {"bob", "phone"}, "", now);
        const auto fx_ = eng.take_effects();
        CHECK(cleared_of(fx_) == std::vector<std::string>{"q"});
        const auto snaps = snapshots_of(fx_);
        REQUIRE(snaps.size() == 1);
        CHECK(snaps[0] == eng.snapshot("p"));
        CHECK(snaps[0].members.size() == 2);
        const auto k = kinds(fx_);
        REQUIRE(k.size() >= 2);
        CHECK(k[0] == fx::snapshot);  // "p" sorts before "q"
        CHECK(k[1] == fx::clear);
        std::vector<std::uint64_t> p_revisions;
        for (const auto& ev : events_of(fx_)) {
            if (ev.party_id == "p") p_revisions.push_back(ev.revision);
        }
        REQUIRE(p_revisions.size() == 2);
        CHECK(p_revisions[1] == p_revisions[0] + 1);  // still one revision per input
        CHECK(p_revisions[1] == snaps[0].revision);
        CHECK(eng.take_effects().empty());
    }
}

TEST_CASE_FIXTURE(engine_fixture, "a join naming a new session brings a lost device back") {
    present("p", "alice", "phone", "s1");
    will("alice", "phone", "s1");
    take();
    CHECK(join("q", "alice", "phone", "s2") == outcome::applied);
    const auto fx_ = take();
    CHECK(kinds(fx_) == std::vector{fx::snapshot, fx::event, fx::snapshot, fx::event, fx::user});
    const auto evs = events_of(fx_);
    CHECK(evs[0].party_id == "p");
    CHECK(evs[0].kind == event_kind::back);
    CHECK(evs[1].party_id == "q");
    CHECK(evs[1].kind == event_kind::joined);
    CHECK(evs[1].member.state == member_state::present);
    CHECK_FALSE(eng.next_deadline().has_value());
}
