#include <algorithm>

#include "assert.hpp"
#include "state.hpp"

namespace presence::core {

using detail::device_rec;

namespace {

// The outcome for a message about a device the engine does not hold: a forgotten session is
// stale (a late duplicate), anything else is unknown.
outcome absent(const detail::tombstones& ended, const device_key& key, std::string_view session) {
    return ended.contains(key, session) ? outcome::stale : outcome::unknown;
}

}  // namespace

outcome engine::state::on_connect(const device_key& key, std::string_view session,
                                  const profile& prof, time_point now) {
    auto* dev = find_device(key);
    if (session_over(key, dev, session)) return outcome::stale;
    begin(leave_reason::explicit_leave);
    if (dev != nullptr && dev->live() && dev->session == session) {
        auto* user = find_user(key.user_id);
        if (prof.empty() || prof == user->prof) return outcome::duplicate;
        user->last_seen = now;
        set_profile(key.user_id, prof);
        flush(now);
        return outcome::applied;
    }
    connect_device(key, session, now);
    if (!prof.empty() && prof != find_user(key.user_id)->prof) set_profile(key.user_id, prof);
    flush(now);
    return outcome::applied;
}

outcome engine::state::on_will(const device_key& key, std::string_view session, time_point now) {
    auto* dev = find_device(key);
    if (dev == nullptr) return absent(tombstones_, key, session);
    if (session != dev->session) return outcome::stale;
    // Lost already: this will repeats the one (or the closed) that ended the session.
    if (!dev->live()) return outcome::duplicate;
    // Live, but on a newer broker connection that came after this session's end.
    if (session_over(key, dev, session)) return outcome::stale;
    begin(leave_reason::timeout);
    lose_connection(key, *dev, now);
    flush(now);
    return outcome::applied;
}

outcome engine::state::on_disconnect(const device_key& key, std::string_view session,
                                     time_point now) {
    auto* dev = find_device(key);
    if (dev == nullptr) return absent(tombstones_, key, session);
    if (!session.empty()) {
        if (session != dev->session) return outcome::stale;
        // A live device whose named session ended is live through a newer connection.
        if (dev->live() && session_over(key, dev, session)) {
            return outcome::stale;
        }
    }
    begin(leave_reason::sign_out);
    find_user(key.user_id)->last_seen = now;
    drop_device(key);
    flush(now);
    return outcome::applied;
}

outcome engine::state::on_join(std::string_view party_id, const device_key& key,
                               std::string_view session, time_point now) {
    auto* dev = find_device(key);
    if (session_over(key, dev, session)) return outcome::stale;
    begin(leave_reason::explicit_leave);
    bool connected = false;
    if (dev == nullptr || (!session.empty() && session != dev->session)) {
        dev = &connect_device(key, session, now);
        connected = true;
    }
    if (dev->parties.contains(party_id)) {
        if (!connected) return outcome::duplicate;
    } else {
        find_user(key.user_id)->last_seen = now;
        add_to_party(party_id, key, *dev, now);
    }
    flush(now);
    return outcome::applied;
}

outcome engine::state::on_leave(std::string_view party_id, const device_key& key,
                                std::string_view session, time_point now) {
    auto* dev = find_device(key);
    if (dev == nullptr) return absent(tombstones_, key, session);
    if (!session.empty() && (session_over(key, dev, session) || session != dev->session)) {
        return outcome::stale;
    }
    if (!dev->parties.contains(party_id)) return outcome::unknown;
    begin(leave_reason::explicit_leave);
    find_user(key.user_id)->last_seen = now;
    remove_from_party(party_id, key, *dev);
    flush(now);
    return outcome::applied;
}

outcome engine::state::on_profile(const device_key& key, const profile& prof, time_point now) {
    auto* user = find_user(key.user_id);
    if (user == nullptr) return outcome::unknown;
    if (user->prof == prof) return outcome::duplicate;
    begin(leave_reason::explicit_leave);
    user->last_seen = now;
    set_profile(key.user_id, prof);
    flush(now);
    return outcome::applied;
}

void engine::state::tick(time_point now) {
    begin(leave_reason::timeout);
    while (!timers_.empty() && timers_.begin()->first.first <= now) {
        const device_key key = timers_.begin()->second;
        drop_device(key);
    }
    flush(now);
}

}  // namespace presence::core
