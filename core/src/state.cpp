#include "state.hpp"

#include <algorithm>
#include <limits>

#include "assert.hpp"

namespace presence::core {

namespace detail {
namespace {

std::string tombstone_key(const device_key& device, std::string_view session) {
    // Identifiers and session ids never contain control characters (the wire layer rejects
    // them), so NUL separates the three parts unambiguously.
    std::string key;
    key.reserve(device.user_id.size() + device.device_id.size() + session.size() + 2);
    key.append(device.user_id).push_back('\0');
    key.append(device.device_id).push_back('\0');
    key.append(session);
    return key;
}

}  // namespace

void tombstones::add(const device_key& device, std::string_view session) {
    if (capacity_ == 0 || session.empty()) return;
    auto key = tombstone_key(device, session);
    if (keys_.contains(key)) return;
    keys_.insert(key);
    order_.push_back(std::move(key));
    while (order_.size() > capacity_) {
        keys_.erase(order_.front());
        order_.pop_front();
    }
}

bool tombstones::contains(const device_key& device, std::string_view session) const {
    return !session.empty() && keys_.contains(tombstone_key(device, session));
}

std::vector<std::string> tombstones::sessions_of(const device_key& device) const {
    const std::string prefix = tombstone_key(device, {});
    std::vector<std::string> out;
    for (auto it = keys_.lower_bound(prefix); it != keys_.end() && it->starts_with(prefix); ++it) {
        out.push_back(it->substr(prefix.size()));
    }
    return out;
}

void forgotten_connections::add(const device_key& device, std::uint64_t epoch, std::uint64_t seq) {
    if (capacity_ == 0 || epoch == 0) return;
    const auto stamp = next_stamp_++;
    entries_.insert_or_assign(device, entry{epoch, seq, stamp});
    order_.emplace_back(device, stamp);
    while (entries_.size() > capacity_ || order_.size() > 2 * capacity_) {
        const auto& [oldest, oldest_stamp] = order_.front();
        if (auto it = entries_.find(oldest);
            it != entries_.end() && it->second.stamp == oldest_stamp) {
            entries_.erase(it);
        }
        order_.pop_front();
    }
}

std::optional<std::pair<std::uint64_t, std::uint64_t>> forgotten_connections::find(
    const device_key& device) const {
    auto it = entries_.find(device);
    if (it == entries_.end()) return std::nullopt;
    return std::pair{it->second.epoch, it->second.seq};
}

bool forgotten_connections::covers(const device_key& device, std::uint64_t epoch,
                                   std::uint64_t seq) const {
    const auto known = find(device);
    return known && known->first == epoch && seq <= known->second;
}

}  // namespace detail

using detail::device_rec;
using detail::member_rec;
using detail::party_rec;
using detail::user_rec;

engine::state::state(engine_config config)
    : config_(config),
      tombstones_(config.forgotten_sessions_kept),
      forgotten_connections_(config.forgotten_connections_kept) {
    PRESENCE_ASSERT(config_.grace >= duration::zero(), "grace period must not be negative");
}

user_rec* engine::state::find_user(std::string_view user_id) {
    auto it = users_.find(user_id);
    return it == users_.end() ? nullptr : &it->second;
}

device_rec* engine::state::find_device(const device_key& key) {
    auto* user = find_user(key.user_id);
    if (user == nullptr) return nullptr;
    auto it = user->devices.find(key.device_id);
    return it == user->devices.end() ? nullptr : &it->second;
}

bool engine::state::session_over(const device_key& key, const device_rec* dev,
                                 std::string_view session) const {
    if (session.empty()) return false;
    if (dev != nullptr &&
        std::find(dev->ended.begin(), dev->ended.end(), session) != dev->ended.end()) {
        return true;
    }
    // A held device's list was seeded from these, but can be shorter than all of them.
    return tombstones_.contains(key, session);
}

void engine::state::remember_ended(device_rec& dev, std::string_view session) const {
    if (session.empty()) return;
    if (std::find(dev.ended.begin(), dev.ended.end(), session) != dev.ended.end()) return;
    dev.ended.emplace_back(session);
    // At least one, so a dead current session is always known as ended.
    const auto kept = std::max<std::size_t>(config_.ended_sessions_kept, 1);
    while (dev.ended.size() > kept) dev.ended.erase(dev.ended.begin());
}

void engine::state::arm(const device_key& key, device_rec& dev, time_point deadline) {
    disarm(dev);
    const detail::timer_key timer{deadline, next_timer_seq_++};
    timers_.emplace(timer, key);
    dev.lost = detail::lost_link{deadline, timer};
}

void engine::state::disarm(device_rec& dev) {
    if (!dev.lost) return;
    const auto erased = timers_.erase(dev.lost->timer);
    PRESENCE_ASSERT(erased == 1, "an armed device has a timer entry");
    dev.lost.reset();
}

void engine::state::lose(const device_key& key, device_rec& dev, time_point now) {
    touch_device_parties(key, dev);
    dev.session_unplaced = false;
    arm(key, dev, now + config_.grace);
    remember_ended(dev, dev.session);
    touch_user(key.user_id);
}

void engine::state::lose_connection(const device_key& key, device_rec& dev, time_point now) {
    lose(key, dev, now);
    auto* user = find_user(key.user_id);
    PRESENCE_ASSERT(user != nullptr, "a lost device belongs to a known user");
    user->last_seen = now;
}

void engine::state::touch_member(std::string_view party_id, std::string_view user_id) {
    auto& change = changed_parties_[std::string(party_id)];
    if (change.before.contains(user_id)) return;
    std::optional<member_view> before;
    if (auto party = parties_.find(party_id); party != parties_.end()) {
        if (auto member = party->second.members.find(user_id);
            member != party->second.members.end()) {
            before = view_of(user_id, member->second);
        }
    }
    change.before.emplace(std::string(user_id), std::move(before));
    change.users.emplace_back(user_id);
}

void engine::state::touch_device_parties(const device_key& key, const device_rec& dev) {
    for (const auto& party_id : dev.parties) touch_member(party_id, key.user_id);
}

void engine::state::touch_user(std::string_view user_id) { changed_users_.emplace(user_id); }

device_rec& engine::state::connect_device(const device_key& key, std::string_view session,
                                          time_point now) {
    auto& user = users_[key.user_id];
    auto [it, created] = user.devices.try_emplace(key.device_id);
    auto& dev = it->second;
    if (created) {
        for (const auto& ended : tombstones_.sessions_of(key)) remember_ended(dev, ended);
        if (const auto conn = forgotten_connections_.find(key)) {
            dev.connection.epoch = conn->first;
            dev.connection.seq = conn->second;
        }
        // A re-created device's last connection ended when it was forgotten.
        dev.session_unplaced = dev.connection.epoch != 0;
    } else {
        touch_device_parties(key, dev);
        if (dev.session != session) remember_ended(dev, dev.session);
        // Reviving a lost device: the new session runs on a connection not seen yet. A new session
        // on a live device runs on its recorded connection (its opened event came first).
        dev.session_unplaced = !dev.live() && dev.connection.epoch != 0;
    }
    dev.session = std::string(session);
    disarm(dev);
    user.last_seen = now;
    touch_user(key.user_id);
    return dev;
}

void engine::state::set_profile(std::string_view user_id, const profile& prof) {
    auto* user = find_user(user_id);
    PRESENCE_ASSERT(user != nullptr, "profile updates target a known user");
    for (const auto& [device_id, dev] : user->devices) {
        for (const auto& party_id : dev.parties) touch_member(party_id, user_id);
    }
    user->prof = prof;
    touch_user(user_id);
}

std::uint64_t engine::state::first_revision(time_point now) const {
    constexpr auto max = std::numeric_limits<std::uint64_t>::max();
    const auto ms = now.time_since_epoch().count();
    std::uint64_t seeded = 1;
    if (ms > 0) {
        const auto ums = static_cast<std::uint64_t>(ms);
        seeded = ums > max / 1000 ? max / 2 : std::max<std::uint64_t>(1, ums * 1000);
    }
    return std::max(seeded, highest_revision_ + 1);
}

void engine::state::add_to_party(std::string_view party_id, const device_key& key, device_rec& dev,
                                 time_point now) {
    auto party = parties_.find(party_id);
    if (party == parties_.end()) {
        party = parties_.emplace(std::string(party_id), party_rec{}).first;
        // flush() adds one for the change that created the party.
        party->second.revision = first_revision(now) - 1;
    }
    touch_member(party_id, key.user_id);
    auto [member, created] = party->second.members.try_emplace(key.user_id);
    if (created) {
        member->second.joined_at = now;
        party->second.join_order.emplace(now, key.user_id);
    }
    member->second.devices.emplace(key.device_id);
    dev.parties.emplace(party_id);
    touch_user(key.user_id);
}

void engine::state::remove_from_party(std::string_view party_id, const device_key& key,
                                      device_rec& dev) {
    auto party = parties_.find(party_id);
    PRESENCE_ASSERT(party != parties_.end(), "a device's party exists");
    auto member = party->second.members.find(key.user_id);
    PRESENCE_ASSERT(member != party->second.members.end(), "a device's party lists its user");
    touch_member(party_id, key.user_id);
    member->second.devices.erase(key.device_id);
    if (member->second.devices.empty()) {
        party->second.join_order.erase({member->second.joined_at, key.user_id});
        party->second.members.erase(member);
    }
    // Erase last: party_id may point into dev.parties.
    dev.parties.erase(dev.parties.find(party_id));
    touch_user(key.user_id);
}

void engine::state::drop_device(const device_key& key) {
    auto* user = find_user(key.user_id);
    PRESENCE_ASSERT(user != nullptr, "dropped devices belong to a known user");
    auto it = user->devices.find(key.device_id);
    PRESENCE_ASSERT(it != user->devices.end(), "dropped devices are known");
    auto& dev = it->second;
    while (!dev.parties.empty()) {
        const std::string party_id = *dev.parties.begin();
        remove_from_party(party_id, key, dev);
    }
    for (const auto& session : dev.ended) tombstones_.add(key, session);
    tombstones_.add(key, dev.session);
    forgotten_connections_.add(key, dev.connection.epoch, dev.connection.seq);
    disarm(dev);
    user->devices.erase(it);
    touch_user(key.user_id);
}

}  // namespace presence::core
