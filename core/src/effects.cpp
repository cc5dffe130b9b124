#include <algorithm>
#include <iterator>
#include <utility>

#include "assert.hpp"
#include "state.hpp"

namespace presence::core {

using detail::device_rec;
using detail::member_rec;
using detail::party_rec;
using detail::user_rec;

device_view engine::state::view_of(std::string_view device_id, const device_rec& dev) const {
    device_view view;
    view.device_id = std::string(device_id);
    view.state = dev.state();
    if (dev.lost) view.reconnect_deadline = dev.lost->deadline;
    view.session_id = dev.session;
    view.ended_session_ids.assign(dev.ended.begin(), dev.ended.end());
    view.broker_epoch = dev.connection.epoch;
    view.connection_seq = dev.connection.seq;
    view.session_unplaced = dev.session_unplaced;
    return view;
}

member_view engine::state::view_of(std::string_view user_id, const member_rec& member) const {
    auto user = users_.find(user_id);
    PRESENCE_ASSERT(user != users_.end(), "members are known users");
    member_view view;
    view.user_id = std::string(user_id);
    view.profile = user->second.prof;
    view.joined_at = member.joined_at;
    view.devices.reserve(member.devices.size());
    bool live = false;
    time_point deadline{};
    for (const auto& device_id : member.devices) {
        auto dev = user->second.devices.find(device_id);
        PRESENCE_ASSERT(dev != user->second.devices.end(), "member devices are known devices");
        if (dev->second.live()) {
            live = true;
        } else {
            deadline = std::max(deadline, dev->second.lost->deadline);
        }
        view.devices.push_back(view_of(device_id, dev->second));
    }
    PRESENCE_ASSERT(!view.devices.empty(), "members have at least one device in the party");
    view.state = live ? member_state::present : member_state::reconnecting;
    if (!live) view.reconnect_deadline = deadline;
    return view;
}

party_snapshot engine::state::view_of(std::string_view party_id, const party_rec& party) const {
    party_snapshot view;
    view.party_id = std::string(party_id);
    view.revision = party.revision;
    view.updated_at = party.updated_at;
    view.members.reserve(party.members.size());
    for (const auto& [joined_at, user_id] : party.join_order) {
        auto member = party.members.find(user_id);
        PRESENCE_ASSERT(member != party.members.end(), "join order lists members only");
        view.members.push_back(view_of(user_id, member->second));
    }
    PRESENCE_ASSERT(view.members.size() == party.members.size(), "join order lists every member");
    return view;
}

user_presence engine::state::view_of(std::string_view user_id, const user_rec& user) const {
    user_presence view;
    view.user_id = std::string(user_id);
    view.last_seen = user.last_seen;
    view.profile = user.prof;
    std::set<std::string, std::less<>> parties;
    for (const auto& [device_id, dev] : user.devices) {
        if (dev.live()) view.online = true;
        view.devices.push_back(view_of(device_id, dev));
        parties.insert(dev.parties.begin(), dev.parties.end());
    }
    view.parties.assign(parties.begin(), parties.end());
    return view;
}

void engine::state::begin(leave_reason reason) {
    PRESENCE_ASSERT(changed_parties_.empty() && changed_users_.empty(),
                    "every input call flushes what it touched");
    reason_ = reason;
}

namespace {

// Which event a member's change is, or nullopt when its published view did not change.
std::optional<event_kind> classify(const std::optional<member_view>& before,
                                   const std::optional<member_view>& after) {
    if (!before && !after) return std::nullopt;
    if (!before) return event_kind::joined;
    if (!after) return event_kind::left;
    if (before->state != after->state) {
        return after->state == member_state::present ? event_kind::back : event_kind::reconnecting;
    }
    if (*before == *after) return std::nullopt;
    return event_kind::updated;
}

}  // namespace

void engine::state::flush(time_point now) {
    for (auto& [party_id, change] : changed_parties_) {
        auto party = parties_.find(party_id);
        PRESENCE_ASSERT(party != parties_.end(), "touched parties are removed only by flush");
        std::vector<party_event> events;
        for (const auto& user_id : change.users) {
            auto& before = change.before.at(user_id);
            std::optional<member_view> after;
            if (auto member = party->second.members.find(user_id);
                member != party->second.members.end()) {
                after = view_of(user_id, member->second);
            }
            const auto kind = classify(before, after);
            if (!kind) continue;
            party_event event;
            event.party_id = party_id;
            event.kind = *kind;
            if (*kind == event_kind::left) event.reason = reason_;
            event.member = after ? std::move(*after) : std::move(*before);
            event.at = now;
            events.push_back(std::move(event));
        }
        if (events.empty()) {
            PRESENCE_ASSERT(!party->second.members.empty(), "a party is emptied by a left event");
            continue;
        }
        auto& rec = party->second;
        ++rec.revision;
        rec.updated_at = now;
        highest_revision_ = std::max(highest_revision_, rec.revision);
        for (auto& event : events) event.revision = rec.revision;
        if (config_.defer_snapshots) {
            deferred_snapshots_.insert(party_id);
        } else if (rec.members.empty()) {
            effects_.emplace_back(clear_snapshot{party_id});
        } else if (config_.want_snapshot && !config_.want_snapshot(party_id, rec.members.size())) {
            // the host fetches it later
        } else {
            effects_.emplace_back(publish_snapshot{view_of(party_id, rec)});
        }
        if (rec.members.empty()) parties_.erase(party);
        for (auto& event : events) effects_.emplace_back(publish_event{std::move(event)});
    }
    changed_parties_.clear();

    for (const auto& user_id : changed_users_) {
        auto user = users_.find(user_id);
        if (user == users_.end()) continue;
        effects_.emplace_back(publish_user{view_of(user_id, user->second)});
        // A user without devices has no parties either; the record just published keeps their
        // last_seen, so the engine can forget them and its memory stays bounded.
        if (user->second.devices.empty()) users_.erase(user);
    }
    changed_users_.clear();
}

std::vector<effect> engine::state::take_effects() {
    if (deferred_snapshots_.empty()) return std::exchange(effects_, {});
    std::vector<effect> out;
    out.reserve(deferred_snapshots_.size() + effects_.size());
    for (const auto& party_id : deferred_snapshots_) {
        if (auto party = parties_.find(party_id); party != parties_.end()) {
            if (config_.want_snapshot &&
                !config_.want_snapshot(party_id, party->second.members.size())) {
                continue;  // the host fetches it later
            }
            out.emplace_back(publish_snapshot{view_of(party_id, party->second)});
        } else {
            out.emplace_back(clear_snapshot{party_id});
        }
    }
    deferred_snapshots_.clear();
    std::move(effects_.begin(), effects_.end(), std::back_inserter(out));
    effects_.clear();
    return out;
}

}  // namespace presence::core
