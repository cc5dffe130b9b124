// Engine scenarios: rebuilding state from retained records after a controller restart.

#include <doctest/doctest.h>

#include "test_engine_fixture.hpp"
#include "test_restore_support.hpp"

using namespace presence::core;
using namespace presence::core::testing;

namespace {

// Restores a fresh engine from what the old one would have left retained on the broker (private
// records and snapshots), through the host's restore path.
engine restarted(const engine& old) {
    return restored_from(retained_of(old), engine_fixture::grace);
}

// The upgrade path: no private records, only public records as a controller before protocol
// v1.1 left them (user records with their devices' private fields) and party snapshots taken
// earlier (a coalesced party whose snapshot lagged when the controller was killed).
engine restarted_with_lagging(const engine& old, const std::vector<party_snapshot>& lagging) {
    std::vector<presence::host::retained_message> retained;
    for (const auto& user_id : {"alice", "bob", "carol"}) {
        if (old.user(user_id)) {
            retained.push_back(
                {presence::wire::user_topic(user_id), legacy_user_payload(old, user_id)});
        }
    }
    for (const auto& p : lagging) {
        retained.push_back({presence::wire::members_topic(p.party_id), presence::wire::encode(p)});
    }
    return restored_from(retained, engine_fixture::grace);
}

std::vector<std::string> member_ids(const std::optional<party_snapshot>& s) {
    std::vector<std::string> ids;
    if (s) {
        for (const auto& m : s->members) ids.push_back(m.user_id);
    }
    return ids;
}

}  // namespace

TEST_SUITE("engine restore") {
    TEST_CASE_FIXTURE(engine_fixture, "restore round-trips snapshots, users and deadlines") {
        present("p", "alice", "phone", "s1");
        present("p", "bob", "phone", "s2");
        connect("alice", "laptop", "s3");
        join("q", "alice", "laptop");
        join("q", "carol", "tab", "s4");
        will("bob", "phone", "s2");
        advance(5s);
        will("alice", "laptop", "s3");
        take();

        engine fresh = restarted(eng);
        CHECK(fresh.take_effects().empty());
        CHECK(fresh.party_ids() == eng.party_ids());
        for (const auto& party_id : eng.party_ids()) {
            CHECK(fresh.snapshot(party_id) == eng.snapshot(party_id));
        }
        for (const auto& user_id : {"alice", "bob", "carol"}) {
            CHECK(fresh.user(user_id) == eng.user(user_id));
        }
        CHECK(fresh.next_deadline() == eng.next_deadline());
        CHECK(fresh.stats().members == eng.stats().members);
        CHECK(fresh.stats().reconnecting_members == eng.stats().reconnecting_members);

        // The restored engine keeps behaving like the old one.
        CHECK(fresh.on_connect({"bob", "phone"}, "s2", {}, now) == outcome::stale);
        CHECK(fresh.on_will({"bob", "phone"}, "s2", now) == outcome::duplicate);
        CHECK(fresh.on_join("p", {"alice", "phone"}, "s1", now) == outcome::duplicate);
        const auto rev = fresh.snapshot("p")->revision;
        CHECK(fresh.on_connect({"bob", "phone"}, "s5", {}, now) == outcome::applied);
        const auto evs = events_of(fresh.take_effects());
        REQUIRE(evs.size() == 1);
        CHECK(evs[0].kind == event_kind::back);
        CHECK(evs[0].revision == rev + 1);
    }

    TEST_CASE_FIXTURE(engine_fixture, "an expired restored deadline fires on the first tick") {
        present("p", "alice", "phone", "s1");
        present("p", "bob", "phone", "s2");
        will("bob", "phone", "s2");
        take();
        engine fresh = restarted(eng);
        advance(grace + 1min);  // the controller was down longer than the grace
        fresh.tick(now);
        const auto fx_ = fresh.take_effects();
        const auto evs = events_of(fx_);
        REQUIRE(evs.size() == 1);
        CHECK(evs[0].kind == event_kind::left);
        CHECK(evs[0].reason == leave_reason::timeout);
        CHECK(evs[0].member.user_id == "bob");
        CHECK_FALSE(fresh.user("bob").has_value());
        CHECK_FALSE(fresh.next_deadline().has_value());
    }

    TEST_CASE_FIXTURE(engine_fixture, "a user record without devices is skipped") {
        user_presence gone;
        gone.user_id = "ghost";
        gone.last_seen = now;
        eng.restore(gone);
        CHECK_FALSE(eng.user("ghost").has_value());
        CHECK(eng.stats().users == 0);
    }

    TEST_CASE_FIXTURE(engine_fixture, "revisions keep growing after a restore") {
        present("p", "alice", "phone", "s1");
        const auto snap = *eng.snapshot("p");
        engine fresh = restarted(eng);
        // Earlier clock than the snapshot's revision seed: the revision still grows.
        const auto early = time_point{1ms};
        CHECK(fresh.on_join("p", {"bob", "phone"}, "s2", early) == outcome::applied);
        CHECK(fresh.snapshot("p")->revision == snap.revision + 1);
        CHECK(fresh.on_join("r", {"bob", "phone"}, "", early) == outcome::applied);
        CHECK(fresh.snapshot("r")->revision > snap.revision);
    }

    TEST_CASE_FIXTURE(
        engine_fixture,
        "sessions that ended before a restart stay stale after it (QoS 1 redelivery)") {
        // Found by the simulation: a takeover, then a crash, then the broker redelivers the
        // unacknowledged connect of the old session to the restarted controller.
        present("p", "alice", "phone", "s1");
        CHECK(connect("alice", "phone", "s2") == outcome::applied);
        take();

        engine fresh = restarted(eng);
        CHECK(fresh.on_connect({"alice", "phone"}, "s1", {}, now) == outcome::stale);
        CHECK(fresh.on_join("p", {"alice", "phone"}, "s1", now) == outcome::stale);
        CHECK(fresh.on_will({"alice", "phone"}, "s1", now) == outcome::stale);
        CHECK(fresh.take_effects().empty());
        CHECK(fresh.snapshot("p") == eng.snapshot("p"));
    }

    TEST_CASE_FIXTURE(engine_fixture,
                      "a signed-out session stays stale after the device returns and a restart") {
        // Found by the simulation (seed 5688): the device is forgotten at sign-out, comes back
        // with a new session, the controller restarts, and the broker redelivers the old
        // session's join. The re-created device carries its forgotten sessions into the records.
        present("p", "alice", "phone", "s1");
        CHECK(eng.on_disconnect({"alice", "phone"}, "s1", now) == outcome::applied);
        CHECK(connect("alice", "phone", "s2") == outcome::applied);
        take();

        engine fresh = restarted(eng);
        CHECK(fresh.on_join("p", {"alice", "phone"}, "s1", now) == outcome::stale);
        CHECK(fresh.on_connect({"alice", "phone"}, "s1", {}, now) == outcome::stale);
        CHECK(fresh.take_effects().empty());
        CHECK(fresh.user("alice") == eng.user("alice"));
    }

    TEST_CASE_FIXTURE(engine_fixture,
                      "a user record newer than a lagging snapshot restores a missed join") {
        present("big", "alice", "phone", "s1");
        const auto lagging = *eng.snapshot("big");
        advance(50ms);
        present("big", "bob", "phone", "s2");  // its snapshot never left: kill -9
        engine fresh = restarted_with_lagging(eng, {lagging});
        CHECK(member_ids(fresh.snapshot("big")) == std::vector<std::string>{"alice", "bob"});
        CHECK(fresh.on_join("big", {"bob", "phone"}, "s2", now) == outcome::duplicate);
        // The next change publishes the corrected snapshot.
        CHECK(fresh.on_leave("big", {"alice", "phone"}, "s1", now) == outcome::applied);
        const auto snaps = snapshots_of(fresh.take_effects());
        REQUIRE(snaps.size() == 1);
        CHECK(member_ids(snaps[0]) == std::vector<std::string>{"bob"});
    }

    TEST_CASE_FIXTURE(engine_fixture,
                      "a user record newer than a lagging snapshot removes a missed leave") {
        present("big", "alice", "phone", "s1");
        present("big", "bob", "phone", "s2");
        const auto lagging = *eng.snapshot("big");
        advance(50ms);
        CHECK(leave("big", "bob", "phone") == outcome::applied);
        engine fresh = restarted_with_lagging(eng, {lagging});
        CHECK(member_ids(fresh.snapshot("big")) == std::vector<std::string>{"alice"});
        CHECK(fresh.user("bob")->parties.empty());
    }

    TEST_CASE_FIXTURE(engine_fixture,
                      "a signed-out user's newer record removes them and their device") {
        present("big", "alice", "phone", "s1");
        present("big", "bob", "phone", "s2");
        const auto lagging = *eng.snapshot("big");
        advance(50ms);
        CHECK(sign_out("bob", "phone", "s2") == outcome::applied);
        // The engine forgets bob; what stays retained is his final record: offline, no devices.
        std::optional<user_presence> bob_final;
        for (const auto& e : eng.take_effects()) {
            if (const auto* u = std::get_if<publish_user>(&e); u && u->user.user_id == "bob") {
                bob_final = u->user;
            }
        }
        REQUIRE(bob_final.has_value());
        CHECK_FALSE(bob_final->online);
        const std::vector<presence::host::retained_message> retained{
            {presence::wire::user_topic("alice"), legacy_user_payload(eng, "alice")},
            {presence::wire::user_topic("bob"), presence::wire::encode(*bob_final)},
            {presence::wire::members_topic("big"), presence::wire::encode(lagging)}};
        engine fresh = restored_from(retained, grace);
        CHECK(member_ids(fresh.snapshot("big")) == std::vector<std::string>{"alice"});
        CHECK_FALSE(fresh.user("bob").has_value());
    }

    TEST_CASE_FIXTURE(engine_fixture, "a user record older than the snapshot changes nothing") {
        present("big", "alice", "phone", "s1");
        const auto alice_then = *eng.user("alice");  // before she left: an older record
        advance(50ms);
        present("big", "bob", "phone", "s2");
        CHECK(leave("big", "alice", "phone") == outcome::applied);
        const std::vector<presence::host::retained_message> retained{
            {presence::wire::user_topic("alice"), presence::wire::encode(alice_then)},
            {presence::wire::user_topic("bob"), legacy_user_payload(eng, "bob")},
            {presence::wire::members_topic("big"), presence::wire::encode(*eng.snapshot("big"))}};
        engine fresh = restored_from(retained, grace);
        CHECK(member_ids(fresh.snapshot("big")) == std::vector<std::string>{"bob"});
    }
}
