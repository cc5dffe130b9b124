// Engine scenarios with the plugin's broker lifecycle events: connections opened and closed in
// broker order, takeovers, duplicates, broker restarts (epoch reconciliation) and controller
// restarts. The fake clock only moves when a test advances it.

#include <doctest/doctest.h>

#include "test_engine_fixture.hpp"
#include "test_restore_support.hpp"

using namespace presence::core;
using namespace presence::core::testing;

namespace {

constexpr std::uint64_t e1 = 0x1111;
constexpr std::uint64_t e2 = 0x2222;
constexpr std::uint64_t e3 = 0x3333;

// Restores a fresh engine from what the old one would have left retained on the broker, through
// the host's restore path.
engine restarted(const engine& old) {
    return restored_from(retained_of(old), engine_fixture::grace);
}

std::vector<event_kind> event_kinds(const std::vector<effect>& effects) {
    std::vector<event_kind> out;
    for (const auto& e : events_of(effects)) out.push_back(e.kind);
    return out;
}

const device_view& device_of(const engine& eng, const std::string& user,
                             const std::string& device) {
    static device_view none;
    if (const auto u = eng.user(user)) {
        for (const auto& d : u->devices) {
            if (d.device_id == device) {
                none = d;
                return none;
            }
        }
    }
    FAIL("device " << user << "/" << device << " is unknown");
    return none;
}

}  // namespace

TEST_SUITE("engine lifecycle") {
    TEST_CASE_FIXTURE(engine_fixture, "a broker epoch is adopted once; repeats are duplicates") {
        CHECK(eng.broker_epoch() == 0);
        CHECK(broker_epoch(e1) == outcome::applied);
        CHECK(eng.broker_epoch() == e1);
        CHECK(eng.take_reconciliations() == std::vector{reconciliation{0, e1, 0}});
        CHECK(broker_epoch(e1) == outcome::duplicate);
        CHECK(eng.take_reconciliations().empty());
        CHECK(broker_epoch(0) == outcome::unknown);
        CHECK(eng.broker_epoch() == e1);
        CHECK(take().empty());
    }

    TEST_CASE_FIXTURE(engine_fixture, "opened for an unknown device creates it live") {
        broker_epoch(e1);
        CHECK(opened("alice", "phone", e1, 1) == outcome::applied);
        const auto fx_ = take();
        CHECK(kinds(fx_) == std::vector{fx::user});
        const auto u = users_of(fx_).at(0);
        CHECK(u.online);
        CHECK(u.last_seen == now);
        REQUIRE(u.devices.size() == 1);
        CHECK(u.devices[0].state == device_state::live);
        CHECK(u.devices[0].session_id.empty());
        CHECK(u.devices[0].broker_epoch == e1);
        CHECK(u.devices[0].connection_seq == 1);
        // The app's connect and join then work as without the plugin.
        CHECK(connect("alice", "phone", "s1", named("alice")) == outcome::applied);
        CHECK(join("p", "alice", "phone", "s1") == outcome::applied);
        CHECK(member("p", "alice")->state == member_state::present);
        CHECK(member("p", "alice")->devices.at(0).connection_seq == 1);
    }

    TEST_CASE_FIXTURE(engine_fixture,
                      "a clean disconnect without will or leave: reconnecting, then left") {
        opened("alice", "phone", e1, 1);
        present("p", "alice", "phone", "s1");
        present("p", "bob", "phone", "s2");
        advance(3s);
        const auto closed_at = now;
        CHECK(closed("alice", "phone", e1, 1) == outcome::applied);
        auto fx_ = take();
        CHECK(kinds(fx_) == std::vector{fx::snapshot, fx::event, fx::user});
        const auto ev = events_of(fx_).at(0);
        CHECK(ev.kind == event_kind::reconnecting);
        CHECK(ev.member.reconnect_deadline == closed_at + grace);
        CHECK(users_of(fx_).at(0).last_seen == closed_at);
        CHECK_FALSE(users_of(fx_).at(0).online);
        // The app's own session ended with the connection: a late message of it is stale.
        CHECK(connect("alice", "phone", "s1") == outcome::stale);
        CHECK(join("p", "alice", "phone", "s1") == outcome::stale);
        CHECK(will("alice", "phone", "s1") == outcome::duplicate);
        advance(grace);
        tick();
        fx_ = take();
        REQUIRE(events_of(fx_).size() == 1);
        CHECK(events_of(fx_)[0].kind == event_kind::left);
        CHECK(events_of(fx_)[0].reason == leave_reason::timeout);
        CHECK(member("p", "alice") == nullptr);
        CHECK_FALSE(eng.user("alice").has_value());
        CHECK(member("p", "bob")->state == member_state::present);
    }

    TEST_CASE_FIXTURE(engine_fixture,
                      "takeover: new connection first, old one's close is stale, no flicker") {
        opened("alice", "phone", e1, 1);
        present("p", "alice", "phone", "s1");
        // Broker order: connected(2), disconnected(1, TAKEN_OVER), then the app's connect(s2).
        CHECK(opened("alice", "phone", e1, 2) == outcome::applied);
        auto fx_ = take();
        CHECK(event_kinds(fx_) == std::vector{event_kind::updated});  // the connection changed
        CHECK(member("p", "alice")->devices.at(0).connection_seq == 2);
        CHECK(closed("alice", "phone", e1, 1, connection_end::taken_over) == outcome::stale);
        CHECK(take().empty());
        CHECK(connect("alice", "phone", "s2") == outcome::applied);
        CHECK(event_kinds(take()) == std::vector{event_kind::updated});  // the session changed
        CHECK(member("p", "alice")->state == member_state::present);
        CHECK_FALSE(eng.next_deadline().has_value());
        // The old session's will (if the broker sent one) is stale too.
        CHECK(will("alice", "phone", "s1") == outcome::stale);
        CHECK(take().empty());
    }

    TEST_CASE_FIXTURE(engine_fixture, "a connection that comes back within the grace is back") {
        opened("alice", "phone", e1, 1);
        present("p", "alice", "phone", "s1");
        closed("alice", "phone", e1, 1);
        take();
        advance(30s);
        CHECK(opened("alice", "phone", e1, 4) == outcome::applied);
        auto fx_ = take();
        CHECK(event_kinds(fx_) == std::vector{event_kind::back});
        CHECK(member("p", "alice")->state == member_state::present);
        CHECK_FALSE(eng.next_deadline().has_value());
        // A redelivered close of the older connection changes nothing.
        CHECK(closed("alice", "phone", e1, 1) == outcome::stale);
        CHECK(closed("alice", "phone", e1, 3) == outcome::stale);
        CHECK(take().empty());
        CHECK(member("p", "alice")->state == member_state::present);
        // The app's connect names the new session; a will of the dead one stays stale.
        CHECK(connect("alice", "phone", "s2") == outcome::applied);
        CHECK(will("alice", "phone", "s1") == outcome::stale);
        advance(10min);
        tick();
        CHECK(member("p", "alice")->state == member_state::present);
    }

    TEST_CASE_FIXTURE(engine_fixture, "duplicate lifecycle events are duplicates or stale") {
        opened("alice", "phone", e1, 1);
        present("p", "alice", "phone", "s1");
        CHECK(opened("alice", "phone", e1, 1) == outcome::duplicate);
        CHECK(take().empty());
        CHECK(closed("alice", "phone", e1, 1) == outcome::applied);
        const auto deadline = now + grace;
        take();
        advance(20s);
        CHECK(closed("alice", "phone", e1, 1) == outcome::duplicate);
        CHECK(member("p", "alice")->reconnect_deadline == deadline);
        // A redelivered opened of the connection that already closed must not revive it.
        CHECK(opened("alice", "phone", e1, 1) == outcome::stale);
        CHECK(take().empty());
        CHECK(member("p", "alice")->state == member_state::reconnecting);
        CHECK(eng.next_deadline() == deadline);
    }

    TEST_CASE_FIXTURE(engine_fixture, "a will first, then the close of that connection") {
        opened("alice", "phone", e1, 1);
        present("p", "alice", "phone", "s1");
        CHECK(will("alice", "phone", "s1") == outcome::applied);
        const auto deadline = now + grace;
        take();
        advance(1s);
        CHECK(closed("alice", "phone", e1, 1) == outcome::duplicate);
        CHECK(take().empty());
        CHECK(eng.next_deadline() == deadline);
    }

    TEST_CASE_FIXTURE(engine_fixture,
                      "a close of a connection whose opened was missed records it and keeps "
                      "the will's deadline") {
        opened("alice", "phone", e1, 1);
        present("p", "alice", "phone", "s1");
        will("alice", "phone", "s1");
        const auto deadline = now + grace;
        take();
        advance(1s);
        CHECK(closed("alice", "phone", e1, 2) == outcome::applied);
        CHECK(event_kinds(take()) == std::vector{event_kind::updated});
        CHECK(member("p", "alice")->reconnect_deadline == deadline);
        CHECK(opened("alice", "phone", e1, 2) == outcome::stale);
        CHECK(member("p", "alice")->state == member_state::reconnecting);
    }

    TEST_CASE_FIXTURE(engine_fixture, "a close for an unknown device is unknown") {
        broker_epoch(e1);
        CHECK(closed("zed", "phone", e1, 9) == outcome::unknown);
        CHECK(take().empty());
        CHECK_FALSE(eng.user("zed").has_value());
    }

    TEST_CASE_FIXTURE(engine_fixture,
                      "a signed-out device: late close and opened are stale, a new one revives") {
        opened("alice", "phone", e1, 3);
        present("p", "alice", "phone", "s1");
        CHECK(sign_out("alice", "phone", "s1") == outcome::applied);
        take();
        CHECK_FALSE(eng.user("alice").has_value());
        CHECK(closed("alice", "phone", e1, 3) == outcome::stale);
        CHECK(opened("alice", "phone", e1, 3) == outcome::stale);
        CHECK(opened("alice", "phone", e1, 2) == outcome::stale);
        CHECK(take().empty());
        CHECK_FALSE(eng.user("alice").has_value());
        CHECK(opened("alice", "phone", e1, 4) == outcome::applied);
        CHECK(eng.user("alice")->online);
        CHECK(device_of(eng, "alice", "phone").connection_seq == 4);
    }

    TEST_CASE_FIXTURE(
        engine_fixture,
        "an expired device's late opened is stale, so it cannot come back as a ghost") {
        opened("alice", "phone", e1, 3);
        present("p", "alice", "phone", "s1");
        closed("alice", "phone", e1, 3);
        advance(grace);
        tick();
        take();
        CHECK_FALSE(eng.user("alice").has_value());
        CHECK(opened("alice", "phone", e1, 3) == outcome::stale);
        CHECK(take().empty());
        CHECK_FALSE(eng.user("alice").has_value());
    }

    TEST_CASE_FIXTURE(engine_fixture,
                      "broker restart: devices that come back are back, the rest expire") {
        broker_epoch(e1);
        opened("alice", "phone", e1, 1);
        present("p", "alice", "phone", "sa");
        opened("bob", "phone", e1, 2);
        present("p", "bob", "phone", "sb");
        opened("carol", "phone", e1, 3);
        present("p", "carol", "phone", "sc");
        eng.take_reconciliations();

        // The broker crashed (no wills, no closes) and restarted with a new epoch.
        advance(5s);
        const auto restart_at = now;
        CHECK(broker_epoch(e2) == outcome::applied);
        CHECK(eng.take_reconciliations() == std::vector{reconciliation{e1, e2, 3}});
        auto fx_ = take();
        CHECK(kinds(fx_) == std::vector{fx::snapshot, fx::event, fx::event, fx::event, fx::user,
                                        fx::user, fx::user});
        CHECK(event_kinds(fx_) == std::vector(3, event_kind::reconnecting));
        CHECK(member("p", "carol")->reconnect_deadline == restart_at + grace);

        // Alice's connection comes back through the plugin, Bob's app connect arrives first.
        advance(10s);
        CHECK(opened("alice", "phone", e2, 1) == outcome::applied);
        CHECK(event_kinds(take()) == std::vector{event_kind::back});
        CHECK(connect("bob", "phone", "sb2") == outcome::applied);
        CHECK(event_kinds(take()) == std::vector{event_kind::back});
        CHECK(opened("bob", "phone", e2, 2) == outcome::applied);
        CHECK(event_kinds(take()) == std::vector{event_kind::updated});

        // Late events of the old broker run are stale: its epoch is retired.
        CHECK(closed("alice", "phone", e1, 1) == outcome::stale);
        CHECK(opened("carol", "phone", e1, 9) == outcome::stale);
        CHECK(broker_epoch(e1) == outcome::stale);
        CHECK(take().empty());
        CHECK(eng.broker_epoch() == e2);

        // Carol never shows up again: she expires; nobody else leaves.
        now = restart_at + grace;
        tick();
        fx_ = take();
        const auto evs = events_of(fx_);
        REQUIRE(evs.size() == 1);
        CHECK(evs[0].kind == event_kind::left);
        CHECK(evs[0].reason == leave_reason::timeout);
        CHECK(evs[0].member.user_id == "carol");
        CHECK(member("p", "alice")->state == member_state::present);
        CHECK(member("p", "bob")->state == member_state::present);
        CHECK(eng.snapshot("p")->members.size() == 2);
        CHECK_FALSE(eng.next_deadline().has_value());
    }

    TEST_CASE_FIXTURE(engine_fixture,
                      "an opened of a new epoch reconciles the others but not its own device") {
        broker_epoch(e1);
        opened("alice", "phone", e1, 1);
        present("p", "alice", "phone", "sa");
        opened("bob", "phone", e1, 2);
        present("p", "bob", "phone", "sb");
        eng.take_reconciliations();
        CHECK(opened("alice", "phone", e2, 1) == outcome::applied);
        CHECK(eng.take_reconciliations() == std::vector{reconciliation{e1, e2, 2}});
        const auto fx_ = take();
        // One input: alice went reconnecting and came back within it, so only her connection
        // changed; bob really lost his.
        const auto evs = events_of(fx_);
        REQUIRE(evs.size() == 2);
        CHECK(evs[0].member.user_id == "alice");
        CHECK(evs[0].kind == event_kind::updated);
        CHECK(evs[1].member.user_id == "bob");
        CHECK(evs[1].kind == event_kind::reconnecting);
        CHECK(member("p", "alice")->state == member_state::present);
    }

    TEST_CASE_FIXTURE(engine_fixture, "reconciliation keeps the deadline of reconnecting devices") {
        broker_epoch(e1);
        opened("alice", "phone", e1, 1);
        present("p", "alice", "phone", "sa");
        opened("bob", "phone", e1, 2);
        present("p", "bob", "phone", "sb");
        closed("alice", "phone", e1, 1);
        const auto alice_deadline = now + grace;
        take();
        eng.take_reconciliations();
        advance(40s);
        CHECK(broker_epoch(e2) == outcome::applied);
        CHECK(eng.take_reconciliations() == std::vector{reconciliation{e1, e2, 1}});
        CHECK(event_kinds(take()) == std::vector{event_kind::reconnecting});  // bob only
        CHECK(member("p", "alice")->reconnect_deadline == alice_deadline);
        CHECK(eng.next_deadline() == alice_deadline);
    }

    TEST_CASE_FIXTURE(engine_fixture,
                      "devices never seen by the plugin are reconciled on a new epoch too") {
        // Connected before the plugin was loaded: the broker restart that loaded it ended them.
        present("p", "alice", "phone", "sa");
        CHECK(broker_epoch(e1) == outcome::applied);
        CHECK(eng.take_reconciliations() == std::vector{reconciliation{0, e1, 1}});
        CHECK(member("p", "alice")->state == member_state::reconnecting);
        CHECK(connect("alice", "phone", "sa2") == outcome::applied);
        CHECK(member("p", "alice")->state == member_state::present);
        // A close in the current epoch for a device with no recorded connection applies.
        CHECK(closed("alice", "phone", e1, 5) == outcome::applied);
        CHECK(member("p", "alice")->state == member_state::reconnecting);
    }

    TEST_CASE_FIXTURE(engine_fixture, "a redelivered will cannot undo an opened") {
        opened("alice", "phone", e1, 1);
        present("p", "alice", "phone", "s1");
        will("alice", "phone", "s1");
        closed("alice", "phone", e1, 1);
        opened("alice", "phone", e1, 2);
        take();
        CHECK(member("p", "alice")->state == member_state::present);
        CHECK(will("alice", "phone", "s1") == outcome::stale);
        CHECK(take().empty());
        CHECK(member("p", "alice")->state == member_state::present);
    }

    TEST_CASE_FIXTURE(engine_fixture, "controller restart with the same broker changes nothing") {
        broker_epoch(e1);
        opened("alice", "phone", e1, 1);
        present("p", "alice", "phone", "sa");
        opened("bob", "phone", e1, 2);
        present("p", "bob", "phone", "sb");
        closed("bob", "phone", e1, 2);
        take();
        eng.take_reconciliations();

        engine fresh = restarted(eng);
        CHECK(fresh.broker_epoch() == 0);
        CHECK(fresh.user("alice") == eng.user("alice"));
        // The retained epoch arrives first on resubscribe: same broker, nothing to reconcile.
        CHECK(fresh.on_broker_epoch(e1, now) == outcome::applied);
        CHECK(fresh.take_reconciliations() == std::vector{reconciliation{0, e1, 0}});
        CHECK(fresh.take_effects().empty());
        CHECK(fresh.snapshot("p") == eng.snapshot("p"));
        // Redelivered events stay ordered after the restart.
        CHECK(fresh.on_connection_opened({"alice", "phone"}, e1, 1, now) == outcome::duplicate);
        CHECK(fresh.on_connection_opened({"bob", "phone"}, e1, 2, now) == outcome::stale);
        CHECK(fresh.on_connection_closed({"bob", "phone"}, e1, 2, connection_end::lost, now) ==
              outcome::duplicate);
        CHECK(fresh.take_effects().empty());
        // And new ones apply.
        CHECK(fresh.on_connection_closed({"alice", "phone"}, e1, 1, connection_end::lost, now) ==
              outcome::applied);
        CHECK(fresh.snapshot("p")->members.at(0).state == member_state::reconnecting);
    }

    TEST_CASE_FIXTURE(engine_fixture,
                      "controller restart after a redelivered event of the same broker") {
        opened("alice", "phone", e1, 1);
        present("p", "alice", "phone", "sa");
        take();
        engine fresh = restarted(eng);
        // The first epoch-carrying input is a lifecycle event, not the retained epoch: it sets
        // the epoch; the retained epoch message that follows the queue confirms it.
        CHECK(fresh.on_connection_opened({"bob", "phone"}, e1, 7, now) == outcome::applied);
        CHECK(fresh.broker_epoch() == e1);
        CHECK(fresh.take_reconciliations().empty());
        CHECK(fresh.on_broker_epoch(e1, now) == outcome::applied);
        CHECK(fresh.take_reconciliations() == std::vector{reconciliation{0, e1, 0}});
        CHECK(fresh.on_broker_epoch(e1, now) == outcome::duplicate);
        CHECK(fresh.snapshot("p")->members.at(0).state == member_state::present);
    }

    TEST_CASE_FIXTURE(engine_fixture,
                      "both restarted: devices of the old broker run go reconnecting") {
        broker_epoch(e1);
        opened("alice", "phone", e1, 1);
        present("p", "alice", "phone", "sa");
        opened("bob", "phone", e1, 2);
        present("p", "bob", "phone", "sb");
        take();
        engine fresh = restarted(eng);
        advance(3s);
        // Bob's new connection is delivered before the retained epoch: it sets the epoch, and
        // the retained epoch message confirms it and reconciles.
        CHECK(fresh.on_connection_opened({"bob", "phone"}, e3, 1, now) == outcome::applied);
        CHECK(fresh.take_reconciliations().empty());
        advance(1s);
        CHECK(fresh.on_broker_epoch(e3, now) == outcome::applied);
        CHECK(fresh.take_reconciliations() == std::vector{reconciliation{0, e3, 1}});
        const auto snap = fresh.snapshot("p");
        CHECK(snap->members.at(0).state == member_state::reconnecting);  // alice
        CHECK(snap->members.at(0).reconnect_deadline == now + grace);
        CHECK(snap->members.at(1).state == member_state::present);  // bob
        CHECK(fresh.on_broker_epoch(e3, now) == outcome::duplicate);
        fresh.take_effects();
        fresh.tick(now + grace);
        const auto evs = events_of(fresh.take_effects());
        REQUIRE(evs.size() == 1);
        CHECK(evs[0].member.user_id == "alice");
        CHECK(evs[0].kind == event_kind::left);
        CHECK(evs[0].reason == leave_reason::timeout);
    }

    TEST_CASE_FIXTURE(engine_fixture, "only a few retired epochs are remembered") {
        engine small{engine_config{.grace = grace, .retired_epochs_kept = 2}};
        for (std::uint64_t e = 1; e <= 4; ++e) {
            CHECK(small.on_broker_epoch(e, now) == outcome::applied);
        }
        CHECK(small.on_broker_epoch(3, now) == outcome::stale);
        CHECK(small.on_broker_epoch(2, now) == outcome::stale);
        // Epoch 1 was forgotten: values are compared for equality only, so it counts as new.
        CHECK(small.on_broker_epoch(1, now) == outcome::applied);
    }

    TEST_CASE_FIXTURE(engine_fixture,
                      "after a controller restart, a late event of the older run is stale") {
        const time_point run1{1'000'000ms};
        const time_point run2{2'000'000ms};
        broker_epoch(e1);
        eng.on_connection_opened({"alice", "phone"}, e1, 1, now, run1 + 5s);
        present("p", "alice", "phone", "sa");
        eng.on_broker_epoch(e2, now, run2);
        eng.on_connection_opened({"alice", "phone"}, e2, 1, now, run2 + 1s);
        take();
        engine fresh = restarted(eng);
        // Redelivered after the restart in broker order: the new run's epoch, then a late
        // duplicate of an event of the old run, then the new run goes on.
        CHECK(fresh.on_broker_epoch(e2, now, run2) == outcome::applied);
        CHECK(fresh.on_connection_closed({"alice", "phone"}, e1, 1, connection_end::lost, now,
                                         run1 + 9s) == outcome::stale);
        CHECK(fresh.broker_epoch() == e2);
        CHECK(fresh.on_connection_opened({"bob", "phone"}, e1, 2, now, run1 + 9s) ==
              outcome::stale);  // e1 is now known as retired
        CHECK(fresh.on_connection_closed({"alice", "phone"}, e2, 1, connection_end::lost, now,
                                         run2 + 3s) == outcome::applied);
        CHECK(fresh.snapshot("p")->members.at(0).state == member_state::reconnecting);
    }

    TEST_CASE_FIXTURE(engine_fixture, "a newer run's event is adopted by the broker's clock too") {
        const time_point run1{1'000'000ms};
        CHECK(eng.on_broker_epoch(e1, now, run1) == outcome::applied);
        opened("alice", "phone", e1, 1);
        present("p", "alice", "phone", "sa");
        eng.take_reconciliations();
        // The new run's connected event arrives before its retained epoch.
        CHECK(eng.on_connection_opened({"bob", "phone"}, e2, 1, now, run1 + 1h) ==
              outcome::applied);
        CHECK(eng.take_reconciliations() == std::vector{reconciliation{e1, e2, 1}});
        // The run's start is earlier than its first event: still the same run.
        CHECK(eng.on_broker_epoch(e2, now, run1 + 1h - 1s) == outcome::duplicate);
        CHECK(eng.on_connection_opened({"carol", "phone"}, e3, 1, now, run1 + 30min) ==
              outcome::stale);
        CHECK(eng.broker_epoch() == e2);
    }

    TEST_CASE_FIXTURE(engine_fixture, "without broker times an unknown epoch is adopted") {
        broker_epoch(e1);
        CHECK(eng.on_connection_opened({"bob", "phone"}, e2, 1, now, time_point{5'000ms}) ==
              outcome::applied);
        CHECK(eng.broker_epoch() == e2);
        CHECK(eng.on_connection_opened({"bob", "phone"}, e3, 1, now) == outcome::applied);
        CHECK(eng.broker_epoch() == e3);
    }

    TEST_CASE_FIXTURE(engine_fixture,
                      "a restart replaying the older run first does not reconcile the newer run") {
        // Found by presence_sim --plugin (seed 5808): the controller died just after a broker
        // restart; its unacknowledged messages included events of the old run.
        const time_point run1{1'000'000ms};
        const time_point run2{2'000'000ms};
        eng.on_broker_epoch(e1, now, run1);
        eng.on_connection_opened({"alice", "phone"}, e1, 11, now, run1 + 9s);
        present("p", "alice", "phone", "sa");
        eng.on_broker_epoch(e2, now, run2);  // alice reconnecting: she was on the old run
        eng.on_connection_opened({"bob", "phone"}, e2, 2, now, run2 + 1s);
        present("p", "bob", "phone", "sb");
        take();
        engine fresh = restarted(eng);
        // Redelivered: alice's old connected event, then the new run's epoch, then bob's event.
        CHECK(fresh.on_connection_opened({"alice", "phone"}, e1, 11, now, run1 + 9s) ==
              outcome::stale);
        CHECK(fresh.on_broker_epoch(e2, now, run2) == outcome::applied);
        CHECK(fresh.take_reconciliations() == std::vector{reconciliation{0, e2, 0}});
        CHECK(fresh.on_connection_opened({"bob", "phone"}, e2, 2, now, run2 + 1s) ==
              outcome::duplicate);
        CHECK(fresh.on_join("p", {"bob", "phone"}, "sb", now) == outcome::duplicate);
        const auto snap = fresh.snapshot("p");
        CHECK(snap->members.at(0).state == member_state::reconnecting);  // alice
        CHECK(snap->members.at(1).state == member_state::present);       // bob
        CHECK(fresh.broker_epoch() == e2);
    }
}
