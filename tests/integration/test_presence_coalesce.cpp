// Big-party snapshot coalescing, seen from a real client: events carry consecutive revisions and
// go out at once, the retained snapshot may lag by up to --snapshot-interval, and a subscriber
// that joins late (so it missed events) detects the revision gap and recovers from the next
// snapshot, following the client rule of docs/protocol.md.

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>

#include "presence/wire/wire.hpp"
#include "stack.hpp"

using namespace presence;
using namespace presence::testing;
using namespace std::chrono_literals;

namespace {

// The client rule of docs/protocol.md ("Big parties: events first, snapshot on a gap").
struct party_view {
    bool have_snapshot = false;
    std::uint64_t revision = 0;
    std::set<std::string> members;
    std::map<std::uint64_t, std::vector<core::party_event>> buffered;  // after a gap
    int gaps = 0;

    void apply(const core::party_event& e) {
        if (e.kind == core::event_kind::left) {
            members.erase(e.member.user_id);
        } else {
            members.insert(e.member.user_id);
        }
        revision = e.revision;
    }
    void on_snapshot(const core::party_snapshot& s) {
        if (have_snapshot && s.revision < revision) return;  // older than what we show
        have_snapshot = true;
        revision = s.revision;
        members.clear();
        for (const auto& m : s.members) members.insert(m.user_id);
        drain();
    }
    void on_event(const core::party_event& e) {
        if (!have_snapshot || !buffered.empty()) {
            buffered[e.revision].push_back(e);
            drain();
            return;
        }
        if (e.revision <= revision) {
            if (e.revision == revision) apply(e);  // another event of the same change
            return;
        }
        if (e.revision == revision + 1) {
            apply(e);
            return;
        }
        ++gaps;  // missed events: wait for a snapshot at least this new
        buffered[e.revision].push_back(e);
    }
    // Applies buffered events that follow the current revision without a hole.
    void drain() {
        if (!have_snapshot) return;
        while (!buffered.empty()) {
            auto it = buffered.begin();
            if (it->first <= revision) {
                buffered.erase(it);
                continue;
            }
            if (it->first != revision + 1) return;
            for (const auto& e : it->second) apply(e);
            buffered.erase(it);
        }
    }
};

party_view replay(const std::vector<received>& messages, std::string_view party) {
    party_view v;
    const auto members = wire::members_topic(party);
    const auto events = wire::events_topic(party);
    for (const auto& m : messages) {
        if (m.topic == members && !m.payload.empty()) {
            core::party_snapshot s;
            REQUIRE_FALSE(wire::decode(m.payload, s));
            v.on_snapshot(s);
        } else if (m.topic == events) {
            core::party_event e;
            REQUIRE_FALSE(wire::decode(m.payload, e));
            v.on_event(e);
        }
    }
    return v;
}

}  // namespace

TEST_CASE("coalesced_party_late_subscriber_detects_gap_and_recovers_from_snapshot") {
    broker b;
    controller_options o;
    o.broker_uri = b.uri();
    o.extra_args = {"--coalesce-above", "0", "--snapshot-interval", "5s"};
    controller_process controller(o, b.dir());
    controller.start_ready();
    observer early(b.uri(), {"party/+/members", "party/+/events", "presence/controller/stats"});

    std::vector<std::unique_ptr<app_device>> apps;
    for (const char* user : {"ann", "ben", "cat", "dan", "eve"}) {
        apps.push_back(
            std::make_unique<app_device>(b.uri(), stack::app(user, user + std::string("-phone"))));
        apps.back()->connect();
    }
    // ann's join is the leading edge (snapshot at once); ben, cat and dan fall in the interval.
    apps[0]->join("big");
    REQUIRE(early.wait_snapshot("big", [](const core::party_snapshot* p) { return p != nullptr; }));
    for (std::size_t i = 1; i < 4; ++i) apps[i]->join("big");
    REQUIRE(early.wait_event("big", [](const core::party_event& e) {
        return e.member.user_id == "dan" && e.kind == core::event_kind::joined;
    }));
    const auto events_before = early.events("big");

    // The late subscriber gets the retained (lagging) snapshot and none of the events so far.
    observer late(b.uri(), {"party/+/members", "party/+/events"});
    late.sync();
    const auto first = late.latest_snapshot("big");
    REQUIRE(first.has_value());
    CHECK(first->revision < events_before.back().revision);  // the snapshot lags the events

    apps[1]->leave("big");
    apps[4]->join("big");
    const std::set<std::string> truth{"ann", "cat", "dan", "eve"};
    CHECK(late.wait_until(
        [&](const std::vector<received>& ms) { return replay(ms, "big").members == truth; },
        20s));
    const auto view = replay(late.messages(), "big");
    CHECK(view.members == truth);
    CHECK(view.gaps >= 1);  // it did see the hole and did not apply events across it

    // The early subscriber saw every event, with consecutive revisions.
    REQUIRE(early.wait_event("big", [](const core::party_event& e) {
        return e.member.user_id == "eve";
    }));
    const auto all = early.events("big");
    for (std::size_t i = 1; i < all.size(); ++i) CHECK(all[i].revision == all[i - 1].revision + 1);
    CHECK(replay(early.messages(), "big").members == truth);
    CHECK(early.wait_stat("coalesced_snapshots", [](double v) { return v >= 1; }));
}

TEST_CASE("coalesced_party_clean_shutdown_flushes_the_pending_snapshot") {
    broker b;
    controller_options o;
    o.broker_uri = b.uri();
    o.extra_args = {"--coalesce-above", "0", "--snapshot-interval", "30s"};
    controller_process controller(o, b.dir());
    controller.start_ready();
    observer watch(b.uri(), {"party/+/members", "party/+/events"});
    app_device ann(b.uri(), stack::app("ann", "ann-phone"));
    app_device ben(b.uri(), stack::app("ben", "ben-phone"));
    ann.connect();
    ben.connect();
    ann.join("big");
    REQUIRE(watch.wait_snapshot("big", [](const core::party_snapshot* p) { return p != nullptr; }));
    ben.join("big");
    REQUIRE(watch.wait_event("big", [](const core::party_event& e) {
        return e.member.user_id == "ben";
    }));
    // ann's join was the leading edge; ben's snapshot waits for the 30 s interval, and a clean
    // stop must publish it now.
    const auto pending = watch.latest_snapshot("big");
    CHECK_FALSE(is_present(pending ? &*pending : nullptr, "ben"));
    CHECK(controller.stop() == 0);
    CHECK(watch.wait_snapshot("big", [](const core::party_snapshot* p) {
        return is_present(p, "ben") && is_present(p, "ann");
    }, 10s));
}
