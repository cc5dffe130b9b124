#include <algorithm>

#include "assert.hpp"
#include "state.hpp"

namespace presence::core {

// Applies a published device view to a device record: the session and, while reconnecting, the
// deadline (re-armed) and the fact that the session already ended with a will, plus the device's
// recently ended sessions, so a message redelivered after a restart is still recognised as stale,
// and the broker connection it was last seen on, so late lifecycle events stay ordered.
void engine::state::restore_device(const device_key& key, detail::device_rec& dev,
                                   const device_view& view) {
    dev.session = view.session_id;
    dev.connection.epoch = view.broker_epoch;
    dev.connection.seq = view.connection_seq;
    dev.session_unplaced = view.session_unplaced && view.state == device_state::live;
    dev.ended.clear();
    for (const auto& ended : view.ended_session_ids) remember_ended(dev, ended);
    if (view.state == device_state::reconnecting) {
        arm(key, dev, view.reconnect_deadline);
        remember_ended(dev, dev.session);
    } else {
        disarm(dev);
    }
}

void engine::state::restore(const user_presence& user) {
    if (user.devices.empty()) return;
    auto& rec = users_[user.user_id];
    rec.prof = user.profile;
    rec.last_seen = user.last_seen;
    for (const auto& view : user.devices) {
        const device_key key{user.user_id, view.device_id};
        restore_device(key, rec.devices[view.device_id], view);
    }
}

void engine::state::restore(const party_snapshot& snapshot) {
    if (auto old = parties_.find(snapshot.party_id); old != parties_.end()) {
        for (const auto& [user_id, member] : old->second.members) {
            for (const auto& device_id : member.devices) {
                if (auto* dev = find_device({user_id, device_id})) {
                    dev->parties.erase(snapshot.party_id);
                }
            }
        }
        parties_.erase(old);
    }
    detail::party_rec party;
    party.revision = snapshot.revision;
    party.updated_at = snapshot.updated_at;
    for (const auto& view : snapshot.members) {
        if (view.devices.empty()) continue;
        auto [user, created] = users_.try_emplace(view.user_id);
        if (created) {
            user->second.prof = view.profile;
            user->second.last_seen = snapshot.updated_at;
        }
        auto [member, joined] = party.members.try_emplace(view.user_id);
        if (joined) {
            member->second.joined_at = view.joined_at;
            party.join_order.emplace(view.joined_at, view.user_id);
        }
        for (const auto& device : view.devices) {
            const device_key key{view.user_id, device.device_id};
            auto& dev = user->second.devices[device.device_id];
            restore_device(key, dev, device);
            dev.parties.insert(snapshot.party_id);
            member->second.devices.insert(device.device_id);
        }
    }
    if (party.members.empty()) return;
    highest_revision_ = std::max(highest_revision_, party.revision);
    parties_.insert_or_assign(snapshot.party_id, std::move(party));
}

std::size_t engine::state::reconcile_restored(const user_presence& user) {
    auto* rec = find_user(user.user_id);
    if (rec == nullptr) return 0;
    const auto newer = [&](const detail::party_rec& party) {
        return user.last_seen > party.updated_at;
    };
    const auto listed = [&](std::string_view party_id) {
        return std::binary_search(user.parties.begin(), user.parties.end(), party_id);
    };
    std::size_t changed = 0;

    // A leave the party's snapshot missed: the newer record no longer lists the party.
    std::set<std::string, std::less<>> left;
    for (const auto& [device_id, dev] : rec->devices) {
        for (const auto& party_id : dev.parties) {
            if (listed(party_id)) continue;
            const auto party = parties_.find(party_id);
            if (party != parties_.end() && newer(party->second)) left.insert(party_id);
        }
    }
    for (const auto& party_id : left) {
        auto party = parties_.find(party_id);
        const auto member = party->second.members.find(user.user_id);
        if (member == party->second.members.end()) continue;
        for (const auto& device_id : member->second.devices) {
            if (auto dev = rec->devices.find(device_id); dev != rec->devices.end()) {
                dev->second.parties.erase(party_id);
            }
        }
        party->second.join_order.erase({member->second.joined_at, user.user_id});
        party->second.members.erase(member);
        ++changed;
        if (party->second.members.empty()) parties_.erase(party);
    }
    // A device known only from those snapshots, in no party now and absent from the newer
    // record, is gone (for example the user signed out).
    if (!left.empty()) {
        for (auto it = rec->devices.begin(); it != rec->devices.end();) {
            const auto& device_id = it->first;
            const bool in_record =
                std::any_of(user.devices.begin(), user.devices.end(),
                            [&](const device_view& v) { return v.device_id == device_id; });
            if (in_record || !it->second.parties.empty()) {
                ++it;
                continue;
            }
            disarm(it->second);
            it = rec->devices.erase(it);
        }
        if (rec->devices.empty()) {
            users_.erase(user.user_id);
            return changed;
        }
    }

    // A join the party's snapshot missed: the newer record lists a party that lacks the user.
    // The record does not say which device joined, so every device it lists is a member.
    if (!user.devices.empty()) {
        for (const auto& party_id : user.parties) {
            const auto party = parties_.find(party_id);
            if (party == parties_.end() || !newer(party->second)) continue;
            if (party->second.members.contains(user.user_id)) continue;
            auto& member = party->second.members[user.user_id];
            member.joined_at = user.last_seen;
            party->second.join_order.emplace(user.last_seen, user.user_id);
            for (const auto& view : user.devices) {
                if (auto dev = rec->devices.find(view.device_id); dev != rec->devices.end()) {
                    dev->second.parties.insert(party_id);
                    member.devices.insert(view.device_id);
                }
            }
            ++changed;
        }
    }
    return changed;
}

}  // namespace presence::core

namespace presence::core {

std::vector<std::string> engine::user_ids() const {
    std::vector<std::string> out;
    out.reserve(state_->users_.size());
    for (const auto& [user_id, user] : state_->users_) out.push_back(user_id);
    return out;
}

std::optional<user_record> engine::state::record(std::string_view user_id) const {
    const auto user = users_.find(user_id);
    if (user == users_.end()) return std::nullopt;
    user_record out;
    out.user_id = std::string(user_id);
    out.last_seen = user->second.last_seen;
    out.profile = user->second.prof;
    std::map<std::string, std::vector<std::string>, std::less<>> members;  // party -> devices
    for (const auto& [device_id, dev] : user->second.devices) {
        out.devices.push_back(view_of(device_id, dev));
        for (const auto& party_id : dev.parties) members[party_id].push_back(device_id);
    }
    for (auto& [party_id, devices] : members) {
        const auto party = parties_.find(party_id);
        PRESENCE_ASSERT(party != parties_.end(), "a device's parties exist");
        const auto member = party->second.members.find(user_id);
        PRESENCE_ASSERT(member != party->second.members.end(), "a device's party lists its user");
        out.memberships.push_back({party_id, member->second.joined_at, std::move(devices)});
    }
    return out;
}

void engine::state::restore(const user_record& record) {
    if (record.devices.empty()) return;
    auto& rec = users_[record.user_id];
    rec.prof = record.profile;
    rec.last_seen = record.last_seen;
    for (const auto& view : record.devices) {
        restore_device({record.user_id, view.device_id}, rec.devices[view.device_id], view);
    }
    for (const auto& m : record.memberships) {
        auto& party = parties_[m.party_id];
        // Until restore_party() gives the published one: the latest input a record shows.
        if (party.updated_at < record.last_seen) party.updated_at = record.last_seen;
        for (const auto& device_id : m.device_ids) {
            const auto dev = rec.devices.find(device_id);
            if (dev == rec.devices.end()) continue;  // a record names only its own devices
            auto [member, joined] = party.members.try_emplace(record.user_id);
            if (joined) {
                member->second.joined_at = m.joined_at;
                party.join_order.emplace(m.joined_at, record.user_id);
            }
            member->second.devices.insert(device_id);
            dev->second.parties.insert(m.party_id);
        }
        if (party.members.empty()) parties_.erase(m.party_id);
    }
}

void engine::state::restore_party(std::string_view party_id, std::uint64_t revision,
                                  time_point updated_at) {
    const auto party = parties_.find(party_id);
    if (party == parties_.end()) return;
    party->second.revision = std::max(party->second.revision, revision);
    party->second.updated_at = updated_at;
    highest_revision_ = std::max(highest_revision_, party->second.revision);
}

std::size_t engine::state::seed_revisions(time_point now, bool every_party) {
    // first_revision() is also the rule for new parties; computed once, before raising any.
    const auto seed = first_revision(now);
    std::size_t raised = 0;
    for (auto& [party_id, party] : parties_) {
        if (party.revision >= seed || (!every_party && party.revision != 0)) continue;
        party.revision = seed;
        ++raised;
    }
    if (raised > 0) highest_revision_ = std::max(highest_revision_, seed);
    return raised;
}

void engine::state::bump_revision(std::string_view party_id) {
    const auto party = parties_.find(party_id);
    if (party == parties_.end()) return;
    ++party->second.revision;
    highest_revision_ = std::max(highest_revision_, party->second.revision);
}

}  // namespace presence::core
