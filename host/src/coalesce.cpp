#include "presence/host/coalesce.hpp"

#include <algorithm>

namespace presence::host {

std::chrono::milliseconds snapshot_coalescer::interval_for(std::size_t members) const {
    const std::size_t scale = std::clamp<std::size_t>(members / members_per_interval, 1, max_scale);
    return interval_ * static_cast<std::chrono::milliseconds::rep>(scale);
}

bool snapshot_coalescer::offer(std::string_view party_id, std::size_t members, time_point now) {
    if (!enabled()) return true;
    auto it = parties_.find(party_id);
    if (it == parties_.end()) {
        if (members <= above_) return true;
        parties_.emplace(std::string(party_id), entry{now, std::nullopt, members});
        return true;  // leading edge: the first change after a quiet interval shows at once
    }
    auto& e = it->second;
    e.members = members;
    if (e.due) return false;  // already pending; due() publishes the latest state
    const auto interval = interval_for(members);
    if (now - e.last_published >= interval) {
        if (members <= above_) {
            parties_.erase(it);  // small again and quiet: back to immediate snapshots
        } else {
            e.last_published = now;
        }
        return true;
    }
    e.due = e.last_published + interval;
    queue_.emplace(*e.due, it->first);
    return false;
}

void snapshot_coalescer::cleared(std::string_view party_id) {
    auto it = parties_.find(party_id);
    if (it == parties_.end()) return;
    if (it->second.due) queue_.erase({*it->second.due, it->first});
    parties_.erase(it);
}

std::vector<std::string> snapshot_coalescer::due(time_point now) {
    std::vector<std::string> out;
    while (!queue_.empty() && queue_.begin()->first <= now) {
        auto node = queue_.extract(queue_.begin());
        auto& e = parties_.at(node.value().second);
        e.due.reset();
        e.last_published = now;
        out.push_back(std::move(node.value().second));
    }
    return out;
}

std::vector<std::string> snapshot_coalescer::take_all() {
    std::vector<std::string> out;
    for (auto& [due_at, party] : queue_) out.push_back(party);
    queue_.clear();
    parties_.clear();
    return out;
}

std::optional<snapshot_coalescer::time_point> snapshot_coalescer::next_due() const {
    if (queue_.empty()) return std::nullopt;
    return queue_.begin()->first;
}

}  // namespace presence::host
