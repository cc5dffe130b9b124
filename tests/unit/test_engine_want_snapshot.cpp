// engine_config::want_snapshot: a host that coalesces big parties' snapshots can tell the engine
// not to build them; events still carry every revision, clears are still emitted, and
// snapshot() returns the current state when the host asks for it later.

#include <doctest/doctest.h>

#include "test_engine_fixture.hpp"

using namespace presence::core;
using namespace presence::core::testing;

namespace {

const time_point t0 = time_point(std::chrono::milliseconds(1'700'000'000'000));

}  // namespace

TEST_CASE("want_snapshot: refused snapshots are not emitted, events and clears are") {
    for (const bool deferred : {false, true}) {
        CAPTURE(deferred);
        std::size_t asked = 0;
        engine e(engine_config{.defer_snapshots = deferred,
                               .want_snapshot = [&](std::string_view party, std::size_t members) {
                                   ++asked;
                                   return party != "big" || members < 2;
                               }});
        e.on_join("big", {"a", "a1"}, "s-a", t0);
        const auto first = e.take_effects();
        CHECK(snapshots_of(first).size() == 1);  // one member: wanted
        e.on_join("big", {"b", "b1"}, "s-b", t0);
        e.on_join("small", {"b", "b1"}, "s-b", t0);
        const auto second = e.take_effects();
        const auto snaps = snapshots_of(second);
        REQUIRE(snaps.size() == 1);
        CHECK(snaps[0].party_id == "small");
        const auto evs = events_of(second);
        REQUIRE(evs.size() == 2);
        CHECK(evs[0].party_id == "big");
        CHECK(evs[0].revision == events_of(first)[0].revision + 1);
        const auto later = e.snapshot("big");
        REQUIRE(later.has_value());
        CHECK(later->members.size() == 2);
        CHECK(later->revision == evs[0].revision);
        e.on_leave("big", {"a", "a1"}, "s-a", t0);
        e.on_leave("big", {"b", "b1"}, "s-b", t0);
        CHECK(cleared_of(e.take_effects()) == std::vector<std::string>{"big"});
        CHECK(asked >= 3);
    }
}
