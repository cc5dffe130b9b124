// The snapshot coalescer's schedule, driven by a fake clock: small parties are never delayed,
// a big party's snapshot goes out at most once per interval (leading edge at once, the rest at
// the interval boundary), clears cancel pending snapshots, and shutdown takes everything.

#include <doctest/doctest.h>

#include <algorithm>

#include "presence/host/coalesce.hpp"

using presence::host::snapshot_coalescer;
using namespace std::chrono_literals;

namespace {

const snapshot_coalescer::time_point t0{std::chrono::seconds(1000)};

}  // namespace

TEST_CASE("coalesce: parties at or below the threshold are always published at once") {
    snapshot_coalescer c(100ms, 256);
    for (int i = 0; i < 10; ++i) CHECK(c.offer("small", 256, t0 + std::chrono::milliseconds(i)));
    CHECK(c.pending() == 0);
    CHECK_FALSE(c.next_due().has_value());
}

TEST_CASE("coalesce: interval 0 disables coalescing even for huge parties") {
    snapshot_coalescer c(0ms, 256);
    CHECK_FALSE(c.enabled());
    for (int i = 0; i < 5; ++i) CHECK(c.offer("big", 10000, t0));
    CHECK(c.pending() == 0);
}

TEST_CASE("coalesce: a big party publishes the first change at once, then once per interval") {
    snapshot_coalescer c(100ms, 256);
    CHECK(c.offer("big", 300, t0));               // leading edge
    CHECK_FALSE(c.offer("big", 301, t0 + 10ms));  // deferred to t0 + 100ms
    CHECK_FALSE(c.offer("big", 302, t0 + 20ms));  // already pending: no second entry
    CHECK(c.pending() == 1);
    REQUIRE(c.next_due().has_value());
    CHECK(*c.next_due() == t0 + 100ms);
    CHECK(c.due(t0 + 99ms).empty());
    const auto due = c.due(t0 + 100ms);
    REQUIRE(due.size() == 1);
    CHECK(due[0] == "big");
    CHECK(c.pending() == 0);
    // Published at t0+100ms, so a change at t0+150ms waits until t0+200ms.
    CHECK_FALSE(c.offer("big", 303, t0 + 150ms));
    CHECK(*c.next_due() == t0 + 200ms);
    // A change after a quiet interval goes out at once again.
    CHECK(c.due(t0 + 200ms).size() == 1);
    CHECK(c.offer("big", 304, t0 + 500ms));
}

TEST_CASE("coalesce: a steady stream of changes yields one snapshot per interval") {
    snapshot_coalescer c(100ms, 256);
    int published = 0;
    for (int ms = 0; ms < 1000; ++ms) {  // 1,000 changes/s for one second
        const auto now = t0 + std::chrono::milliseconds(ms);
        published += static_cast<int>(c.due(now).size());
        if (c.offer("big", 300, now)) ++published;
    }
    published += static_cast<int>(c.take_all().size());
    CHECK(published >= 10);
    CHECK(published <= 11);
}

TEST_CASE("coalesce: clearing an emptied party drops its pending snapshot") {
    snapshot_coalescer c(100ms, 2);
    CHECK(c.offer("p", 3, t0));
    CHECK_FALSE(c.offer("p", 3, t0 + 1ms));
    c.cleared("p");
    CHECK(c.pending() == 0);
    CHECK(c.due(t0 + 1s).empty());
    CHECK(c.offer("p", 3, t0 + 2s));  // recreated later: a fresh leading edge
}

TEST_CASE(
    "coalesce: a party that shrinks keeps its pending snapshot, then goes back to immediate") {
    snapshot_coalescer c(100ms, 256);
    CHECK(c.offer("p", 300, t0));
    CHECK_FALSE(c.offer("p", 200, t0 + 10ms));  // pending from when it was big
    CHECK(c.due(t0 + 100ms) == std::vector<std::string>{"p"});
    CHECK(c.offer("p", 200, t0 + 300ms));  // quiet and small: immediate, entry forgotten
    CHECK(c.offer("p", 199, t0 + 301ms));
    CHECK(c.pending() == 0);
}

TEST_CASE("coalesce: shutdown takes every pending snapshot") {
    snapshot_coalescer c(100ms, 1);
    CHECK(c.offer("a", 5, t0));
    CHECK(c.offer("b", 5, t0));
    CHECK_FALSE(c.offer("a", 5, t0 + 1ms));
    CHECK_FALSE(c.offer("b", 5, t0 + 1ms));
    auto all = c.take_all();
    std::sort(all.begin(), all.end());
    CHECK(all == std::vector<std::string>{"a", "b"});
    CHECK(c.pending() == 0);
    CHECK_FALSE(c.next_due().has_value());
}

TEST_CASE("coalesce: the interval grows with the party, up to max_scale intervals") {
    snapshot_coalescer c(100ms, 256);
    CHECK(c.interval_for(300) == 100ms);
    CHECK(c.interval_for(2560) == 1000ms);
    CHECK(c.interval_for(10000) == 2000ms);  // 39 x, capped at 20 x
    CHECK(c.offer("huge", 10000, t0));
    CHECK_FALSE(c.offer("huge", 10000, t0 + 1ms));
    CHECK(*c.next_due() == t0 + 2000ms);
    // 100 changes/s for 10 s: the leading edge plus one snapshot per 2 s.
    int published = 1;
    for (int ms = 10; ms < 10000; ms += 10) {
        const auto now = t0 + std::chrono::milliseconds(ms);
        published += static_cast<int>(c.due(now).size());
        if (c.offer("huge", 10000, now)) ++published;
    }
    CHECK(published >= 5);
    CHECK(published <= 6);
}
