#include "presence/controller/coalesce.hpp"

namespace presence::controller {

bool snapshot_coalescer::offer(std::string_view party_id, std::size_t members, time_point now) {
    if (!enabled()) return true;
    auto it = parties_.find(party_id);
    if (it == parties_.end()) {
        if (members <= above_) return true;
        parties_.emplace(std::string(party_id), entry{now, std::nullopt});
        return true;  // leading edge: the first change after a quiet interval shows at once
    }
    auto& e = it->second;
    if (e.due) return false;  // already pending; due() publishes the latest state
    if (now - e.last_published >= interval_) {
        if (members <= above_) {
            parties_.erase(it);  // small again and quiet: back to immediate snapshots
        } else {
            e.last_published = now;
        }
        return true;
    }
    e.due = e.last_published + interval_;
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

}  // namespace presence::controller
