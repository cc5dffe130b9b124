#pragma once
// Snapshot coalescing for big parties. Every change of a party produces an event (a delta with
// its own consecutive revision) that the controller publishes at once, and a full retained
// snapshot. For a party of 10,000 members the snapshot is hundreds of kilobytes, so re-sending it
// on every change makes traffic grow with members x changes. The coalescer lets a big party's
// snapshot out at most once per interval (the first change after a quiet interval goes out at
// once); clients apply events as they come and fall back to the retained snapshot when they see a
// revision gap (docs/protocol.md). The interval grows with the party: interval x (members /
// members_per_interval), at least 1x and at most max_scale x, so a snapshot's bytes per second stay
// about the same whatever the party's size (measured: a 10,000-member party every 100 ms cost the
// controller more CPU than one core could give). Small parties are never delayed.

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "presence/core/types.hpp"

namespace presence::host {

// Decides, per party, whether a snapshot is published now or later. Pure: the caller passes the
// time (the engine's), so its timers are data and tests drive it with a fake clock.
class snapshot_coalescer {
  public:
    using time_point = core::time_point;

    // interval 0 disables coalescing: every snapshot is published at once. Parties with at most
    // `above` members are published at once unless a deferred snapshot of theirs is pending.
    snapshot_coalescer(std::chrono::milliseconds interval, std::size_t above)
        : interval_(interval), above_(above) {}

    // A party changed and now has `members` members. True: publish its snapshot now. False: it
    // is deferred and will be returned by due() no later than one interval after the last one.
    bool offer(std::string_view party_id, std::size_t members, time_point now);

    // The party emptied (its retained snapshot is cleared at once): forget any pending snapshot.
    void cleared(std::string_view party_id);

    // Parties whose deferred snapshot is due at `now`, in due order; they count as published now.
    std::vector<std::string> due(time_point now);

    // Every pending party, for a clean shutdown that must not leave a snapshot behind.
    std::vector<std::string> take_all();

    // When the next deferred snapshot falls due, so the run loop can bound its wait.
    std::optional<time_point> next_due() const;

    std::size_t pending() const { return queue_.size(); }
    // Whether this party's snapshot is held back right now.
    bool is_pending(std::string_view party_id) const {
        const auto it = parties_.find(party_id);
        return it != parties_.end() && it->second.due.has_value();
    }
    // The interval a party of `members` members waits between snapshots.
    std::chrono::milliseconds interval_for(std::size_t members) const;
    // The longest interval, as a multiple of the base interval.
    static constexpr std::size_t max_scale = 20;
    // Party size that one base interval covers; a party k times as big waits k intervals.
    static constexpr std::size_t members_per_interval = 256;
    bool enabled() const { return interval_.count() > 0; }

  private:
    struct entry {
        time_point last_published;
        std::optional<time_point> due;
        std::size_t members = 0;  // at the latest offer, for the interval
    };

    std::chrono::milliseconds interval_;
    std::size_t above_;
    std::map<std::string, entry, std::less<>> parties_;   // big parties seen within an interval
    std::set<std::pair<time_point, std::string>> queue_;  // pending: (due, party)
};

}  // namespace presence::host
