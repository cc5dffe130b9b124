// Engine rules for the plugin's connection census (presence/broker/census): the broker's list of
// open app connections heals lifecycle events a killed controller acknowledged but never acted on.
// The fake clock only moves when a test advances it.

#include <doctest/doctest.h>

#include "test_engine_fixture.hpp"

using namespace presence::core;
using namespace presence::core::testing;

namespace {

constexpr std::uint64_t e1 = 0x1111;
constexpr std::uint64_t e2 = 0x2222;

struct census_fixture : engine_fixture {
    outcome census(std::uint64_t epoch, std::uint64_t last_seq, std::vector<census_entry> open) {
        return eng.on_census(epoch, last_seq, open, now);
    }

    // A device of `user` live on connection `seq` of e1, connected and in party p.
    void on_line(const std::string& user, const std::string& device, std::uint64_t seq) {
        opened(user, device, e1, seq);
        present("p", user, device, "s-" + device);
    }

    // A controller killed now and restarted: a new engine restored from the broker-run record
    // `broker` and alice's private record, as `host::restore` does.
    void restart_with_alice(const broker_record& broker) {
        const auto record = eng.record("alice");
        REQUIRE(record.has_value());
        eng = engine{engine_config{grace, 4}};
        eng.restore(broker);
        eng.restore(*record);
    }

    std::vector<event_kind> event_kinds() {
        std::vector<event_kind> out;
        for (const auto& e : events_of(take())) out.push_back(e.kind);
        return out;
    }
};

census_entry entry(const std::string& user, const std::string& device, std::uint64_t seq) {
    return {{user, device}, seq};
}

}  // namespace

TEST_SUITE("engine census") {
    TEST_CASE_FIXTURE(census_fixture, "a census that agrees with the engine changes nothing") {
        broker_epoch(e1);
        on_line("alice", "phone", 1);
        on_line("bob", "tab", 2);
        CHECK(census(e1, 2, {entry("alice", "phone", 1), entry("bob", "tab", 2)}) ==
              outcome::duplicate);
        CHECK(take().empty());
        CHECK(member("p", "alice")->state == member_state::present);
    }

    TEST_CASE_FIXTURE(census_fixture,
                      "a device missing from the census lost its connection: reconnecting, then "
                      "timeout") {
        broker_epoch(e1);
        on_line("alice", "phone", 1);
        on_line("bob", "tab", 2);
        // bob's disconnected event was acknowledged by a killed controller and never acted on.
        CHECK(census(e1, 2, {entry("alice", "phone", 1)}) == outcome::applied);
        CHECK(event_kinds() == std::vector{event_kind::reconnecting});
        CHECK(member("p", "bob")->state == member_state::reconnecting);
        CHECK(member("p", "bob")->reconnect_deadline == now + grace);
        CHECK(member("p", "alice")->state == member_state::present);
        advance(grace);
        tick();
        CHECK(member("p", "bob") == nullptr);
        CHECK(member("p", "alice")->state == member_state::present);
    }

    TEST_CASE_FIXTURE(census_fixture,
                      "a device listed on a newer connection is back without a flicker") {
        broker_epoch(e1);
        on_line("alice", "phone", 1);
        closed("alice", "phone", e1, 1);
        take();
        // Its reconnect (connection 5) was lost with the controller: the census names it.
        CHECK(census(e1, 5, {entry("alice", "phone", 5)}) == outcome::applied);
        CHECK(event_kinds() == std::vector{event_kind::back});
        CHECK(member("p", "alice")->state == member_state::present);
        CHECK_FALSE(eng.next_deadline().has_value());
        // A late close of the old connection stays stale.
        CHECK(closed("alice", "phone", e1, 1) == outcome::stale);
    }

    TEST_CASE_FIXTURE(census_fixture,
                      "a takeover whose events were lost: the new connection, no flicker") {
        broker_epoch(e1);
        on_line("alice", "phone", 1);
        CHECK(census(e1, 3, {entry("alice", "phone", 3)}) == outcome::applied);
        // Still present: no leave or join, only the connection changed (as for a takeover whose
        // events arrive).
        CHECK(event_kinds() == std::vector{event_kind::updated});
        CHECK(member("p", "alice")->state == member_state::present);
        CHECK(closed("alice", "phone", e1, 1) == outcome::stale);
        CHECK(member("p", "alice")->state == member_state::present);
    }

    TEST_CASE_FIXTURE(census_fixture, "connections newer than the census are not judged by it") {
        broker_epoch(e1);
        on_line("alice", "phone", 1);
        on_line("bob", "tab", 4);
        // Taken before bob's connection 4 was accepted: bob is newer, not missing.
        CHECK(census(e1, 3, {entry("alice", "phone", 1)}) == outcome::duplicate);
        CHECK(member("p", "bob")->state == member_state::present);
    }

    TEST_CASE_FIXTURE(census_fixture,
                      "a live device with no recorded connection is judged by the census too") {
        broker_epoch(e1);
        // The app's connect arrived; its connected event was lost, then the connection ended.
        present("p", "alice", "phone", "s1");
        CHECK(census(e1, 7, {}) == outcome::applied);
        CHECK(member("p", "alice")->state == member_state::reconnecting);
    }

    TEST_CASE_FIXTURE(census_fixture, "an unknown open device is created live with no parties") {
        broker_epoch(e1);
        CHECK(census(e1, 2, {entry("carol", "phone", 2)}) == outcome::applied);
        const auto u = eng.user("carol");
        REQUIRE(u);
        CHECK(u->online);
        CHECK(u->devices.at(0).connection_seq == 2);
        CHECK(u->parties.empty());
    }

    TEST_CASE_FIXTURE(census_fixture, "a census of a new run reconciles like the epoch message") {
        broker_epoch(e1);
        on_line("alice", "phone", 1);
        on_line("bob", "tab", 2);
        // The broker restarted (e2) and only alice reconnected; the controller missed it all.
        CHECK(census(e2, 1, {entry("alice", "phone", 1)}) == outcome::applied);
        CHECK(eng.broker_epoch() == e2);
        CHECK(member("p", "alice")->state == member_state::present);
        CHECK(member("p", "bob")->state == member_state::reconnecting);
        // A late event of the retired run is stale.
        CHECK(closed("alice", "phone", e1, 1) == outcome::stale);
    }

    TEST_CASE_FIXTURE(census_fixture, "a census of a retired run is stale and changes nothing") {
        broker_epoch(e1);
        on_line("alice", "phone", 1);
        broker_epoch(e2);
        opened("alice", "phone", e2, 1);
        take();
        CHECK(census(e1, 9, {}) == outcome::stale);
        CHECK(take().empty());
        CHECK(member("p", "alice")->state == member_state::present);
    }

    TEST_CASE_FIXTURE(census_fixture, "a redelivered census cannot undo later events") {
        broker_epoch(e1);
        on_line("alice", "phone", 1);
        closed("alice", "phone", e1, 1);
        opened("alice", "phone", e1, 2);
        take();
        // An old census listing connection 1, redelivered after connection 2 was recorded.
        CHECK(census(e1, 1, {entry("alice", "phone", 1)}) == outcome::duplicate);
        CHECK(member("p", "alice")->state == member_state::present);
        // One taken when nothing was open, redelivered later: connection 2 is newer than it.
        CHECK(census(e1, 1, {}) == outcome::duplicate);
        CHECK(member("p", "alice")->state == member_state::present);
    }

    TEST_CASE_FIXTURE(census_fixture, "one census changes each party's revision at most once") {
        broker_epoch(e1);
        on_line("alice", "phone", 1);
        on_line("bob", "tab", 2);
        on_line("carol", "laptop", 3);
        const auto before = eng.snapshot("p")->revision;
        CHECK(census(e1, 3, {entry("alice", "phone", 1)}) == outcome::applied);
        const auto fx_ = take();
        std::size_t snapshots = 0;
        for (const auto& e : fx_) {
            if (std::holds_alternative<publish_snapshot>(e)) ++snapshots;
        }
        CHECK(snapshots == 1);
        CHECK(eng.snapshot("p")->revision == before + 1);
        CHECK(events_of(fx_).size() == 2);  // bob and carol reconnecting
    }

    TEST_CASE_FIXTURE(census_fixture,
                      "after a restart a device seen on no run keeps its session for the census") {
        // Simulation seed 5680 reduced: the restarted controller knows run e1 from its record,
        // unconfirmed; alice's connected event was lost with the crash, her connect was not.
        eng.restore(broker_record{e1, {}, {}});
        connect("alice", "phone", "s39");
        // The retained epoch confirms the run: alice, seen on no run, is left to the census.
        CHECK(broker_epoch(e1) == outcome::applied);
        CHECK(eng.user("alice")->devices.at(0).state == device_state::live);
        CHECK(census(e1, 6, {entry("alice", "phone", 6)}) == outcome::applied);
        CHECK(eng.user("alice")->devices.at(0).connection_seq == 6);
        // Her session is still current: her join applies (it was stale for ever before).
        CHECK(join("p", "alice", "phone", "s39") == outcome::applied);
        CHECK(member("p", "alice")->state == member_state::present);
    }
    TEST_CASE_FIXTURE(census_fixture,
                      "after a restart a session named while reconnecting waits for the census") {
        // Simulation seed 25153 reduced. Before the crash: alice's phone was on connection 4 of
        // run e1, in party p; the broker restarted as e2 and the phone went reconnecting; its new
        // connection (e2, 3) was acknowledged by the killed controller and lost; its connect s53
        // was not.
        broker_epoch(e1);
        on_line("alice", "phone", 4);
        SUBCASE("the record names e2: the retained epoch confirms it") {
            broker_epoch(e2);
            REQUIRE(member("p", "alice")->state == member_state::reconnecting);
            restart_with_alice(broker_record{e2, {}, {e1}});
        }
        SUBCASE("the record still names e1: the retained epoch of e2 is a newer run") {
            // The queue delivered before it may hold e2's traffic, as here.
            closed("alice", "phone", e1, 4);
            restart_with_alice(broker_record{e1, {}, {}});
        }
        CHECK(connect("alice", "phone", "s53") == outcome::applied);
        CHECK(eng.user("alice")->devices.at(0).session_unplaced);
        // The phone is recorded on e1, but its session runs on a connection not seen yet: the
        // census judges it, not the first reconciliation.
        broker_epoch(e2);
        CHECK(eng.user("alice")->devices.at(0).state == device_state::live);
        CHECK(census(e2, 3, {entry("alice", "phone", 3)}) == outcome::applied);
        CHECK(eng.user("alice")->devices.at(0).connection_seq == 3);
        CHECK_FALSE(eng.user("alice")->devices.at(0).session_unplaced);
        // Its joins apply: s53 is current (they were stale for ever before the fix).
        REQUIRE(join("q", "alice", "phone", "s53") == outcome::applied);
        CHECK(member("q", "alice")->state == member_state::present);
        CHECK(member("p", "alice")->state == member_state::present);
    }

    TEST_CASE_FIXTURE(census_fixture,
                      "a live epoch change ends an unplaced session of the old run") {
        // Simulation seed 1807 reduced: a running controller confirmed e1; the phone's connect on
        // a connection of e1 came while it was reconnecting; then the broker restarted as e2. The
        // live epoch message precedes e2's traffic, so s53 ran on e1 and is gone: reconnecting
        // (left to a census, the phone would be a ghost when none follows).
        broker_epoch(e1);
        on_line("alice", "phone", 4);
        closed("alice", "phone", e1, 4);
        connect("alice", "phone", "s53");
        REQUIRE(eng.user("alice")->devices.at(0).session_unplaced);
        take();
        CHECK(broker_epoch(e2) == outcome::applied);
        CHECK(member("p", "alice")->state == member_state::reconnecting);
        CHECK_FALSE(eng.user("alice")->devices.at(0).session_unplaced);
        advance(grace);
        tick();
        CHECK(member("p", "alice") == nullptr);
    }

    TEST_CASE_FIXTURE(
        census_fixture,
        "an unplaced session the census does not list ends: reconnecting, then gone") {
        // After a restart, s53 may be a redelivered connect of a connection that is gone: the
        // confirmation leaves it, and without a listed connection the census ends it, so it
        // never lingers as a ghost.
        broker_epoch(e1);
        on_line("alice", "phone", 4);
        closed("alice", "phone", e1, 4);
        restart_with_alice(broker_record{e1, {}, {}});
        connect("alice", "phone", "s53");
        broker_epoch(e1);
        REQUIRE(member("p", "alice")->state == member_state::present);
        take();
        CHECK(census(e1, 7, {}) == outcome::applied);
        CHECK(member("p", "alice")->state == member_state::reconnecting);
        advance(grace);
        tick();
        CHECK(member("p", "alice") == nullptr);
    }

    TEST_CASE_FIXTURE(census_fixture,
                      "a repeated closed of the connection before an unplaced session is a "
                      "duplicate") {
        broker_epoch(e1);
        on_line("alice", "phone", 4);
        closed("alice", "phone", e1, 4);
        connect("alice", "phone", "s53");
        take();
        // A QoS 1 repeat of the closed that came before s53 cannot end s53.
        CHECK(closed("alice", "phone", e1, 4) == outcome::duplicate);
        CHECK(take().empty());
        CHECK(member("p", "alice")->state == member_state::present);
        // The opened of s53's connection places it; a later closed of that one ends it.
        CHECK(opened("alice", "phone", e1, 6) == outcome::applied);
        CHECK_FALSE(eng.user("alice")->devices.at(0).session_unplaced);
        CHECK(closed("alice", "phone", e1, 6) == outcome::applied);
        CHECK(member("p", "alice")->state == member_state::reconnecting);
    }

    TEST_CASE_FIXTURE(census_fixture, "an unplaced session survives a restart through the record") {
        broker_epoch(e1);
        on_line("alice", "phone", 4);
        closed("alice", "phone", e1, 4);
        connect("alice", "phone", "s53");
        restart_with_alice(broker_record{e1, {}, {}});
        CHECK(eng.user("alice")->devices.at(0).session_unplaced);
        CHECK(closed("alice", "phone", e1, 4) == outcome::duplicate);
        CHECK(member("p", "alice")->state == member_state::present);
    }
}
