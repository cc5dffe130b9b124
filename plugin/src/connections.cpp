#include "presence/plugin/connections.hpp"

#include <algorithm>
#include <utility>

namespace presence::plugin {

admission connection_table::check(const connection_info& info) const {
    if (const auto held = by_device_.find(info.device); held != by_device_.end()) {
        const auto e = entries_.find(held->second);
        if (e != entries_.end() && e->second.info.user != info.user) {
            return admission::device_held_by_other_user;
        }
    }
    if (const auto owner = session_owner_.find(info.device);
        owner != session_owner_.end() && owner->second != info.user) {
        return admission::session_owned_by_other_user;
    }
    return admission::ok;
}

void connection_table::on_authenticated(client_key client, connection_info info,
                                        std::int64_t now_us) {
    // A reused pointer whose first life is still listed (dead, awaiting the tick) is replaced.
    if (const auto old = entries_.find(client); old != entries_.end()) {
        if (old->second.alive) on_disconnect(client, now_us);
        entries_.erase(client);
        std::erase(dead_, client);
    }
    if (const auto held = by_device_.find(info.device); held != by_device_.end()) {
        if (const auto e = entries_.find(held->second); e != entries_.end()) {
            e->second.taken_over = true;
        }
    }
    entry e;
    e.info = std::move(info);
    // Only apps are devices: the controller and observers (operator tools) are never announced.
    if (e.info.role == token::role::app) {
        e.seq = next_seq_++;
        pending_.emplace(e.seq, client);
    } else {
        e.pending = false;
    }
    by_device_[e.info.device] = client;
    if (!e.info.clean_session) {
        if (session_owner_.size() < max_session_owners) {
            session_owner_.insert_or_assign(e.info.device, e.info.user);
        }
        if (e.info.role != token::role::app) {
            session_role_.insert_or_assign(e.info.device, e.info.role);
        } else {
            session_role_.erase(e.info.device);
        }
    } else {
        // A clean session discards the broker's stored session for this client id.
        session_owner_.erase(e.info.device);
        session_role_.erase(e.info.device);
    }
    entries_.insert_or_assign(client, std::move(e));
}

void connection_table::on_disconnect(client_key client, std::int64_t now_us) {
    const auto it = entries_.find(client);
    if (it == entries_.end() || !it->second.alive) return;
    entry& e = it->second;
    // Every connected event (this one's included) goes out before any disconnected event, so
    // connected(seq) precedes disconnected(seq) and a takeover's new connection is announced
    // before the old one ends.
    confirm_all_pending(now_us);
    e.alive = false;
    if (const auto held = by_device_.find(e.info.device);
        held != by_device_.end() && held->second == client) {
        by_device_.erase(held);
    }
    const connection_end end = e.kicked       ? connection_end::kicked
                               : e.taken_over ? connection_end::taken_over
                                              : connection_end::lost;
    if (e.seq != 0) emit(e, false, end, now_us);
    dead_.push_back(client);
}

std::vector<std::string> connection_table::on_tick(std::int64_t now_us) {
    confirm_all_pending(now_us);
    for (const client_key client : dead_) {
        const auto it = entries_.find(client);
        if (it != entries_.end() && !it->second.alive) entries_.erase(it);
    }
    dead_.clear();
    std::vector<std::string> expired;
    const std::int64_t now_s = now_us / 1'000'000;
    for (auto& [client, e] : entries_) {
        if (e.alive && !e.kicked && e.info.expires_s <= now_s) {
            e.kicked = true;
            expired.push_back(e.info.device);
        }
    }
    return expired;
}

const connection_info* connection_table::find(client_key client) const {
    const auto it = entries_.find(client);
    return it == entries_.end() ? nullptr : &it->second.info;
}

bool connection_table::ended(client_key client) const {
    const auto it = entries_.find(client);
    return it != entries_.end() && !it->second.alive;
}

const token::role* connection_table::offline_session_role(const std::string& device,
                                                          const std::string& user) const {
    if (by_device_.contains(device)) return nullptr;  // live: its own entry answers
    const auto owner = session_owner_.find(device);
    if (owner == session_owner_.end() || owner->second != user) return nullptr;
    const auto role = session_role_.find(device);
    return role == session_role_.end() ? nullptr : &role->second;
}

std::vector<lifecycle_event> connection_table::take_events() {
    std::vector<lifecycle_event> out;
    out.swap(events_);
    return out;
}

std::optional<census> connection_table::take_census(std::int64_t now_us) {
    if (!census_requested_) return std::nullopt;
    census_requested_ = false;
    census c;
    c.at_us = now_us;
    // Connections still pending have no connected event yet: the census stops before them.
    c.last_seq = pending_.empty() ? next_seq_ - 1 : pending_.begin()->first - 1;
    for (const auto& [device, client] : by_device_) {
        const auto it = entries_.find(client);
        if (it == entries_.end()) continue;
        const entry& e = it->second;
        if (!e.alive || e.pending || e.seq == 0 || e.seq > c.last_seq) continue;
        c.open.push_back({e.info.user, e.info.device, e.seq});
    }
    std::sort(
        c.open.begin(), c.open.end(),
        [](const census::connection& a, const census::connection& b) { return a.seq < b.seq; });
    return c;
}

void connection_table::confirm_all_pending(std::int64_t now_us) {
    for (const auto& [seq, client] : pending_) {
        const auto it = entries_.find(client);
        if (it == entries_.end() || !it->second.pending) continue;
        it->second.pending = false;
        emit(it->second, true, connection_end::unspecified, now_us);
    }
    pending_.clear();
}

void connection_table::emit(const entry& e, bool connected, connection_end end,
                            std::int64_t now_us) {
    lifecycle_event ev;
    ev.connected = connected;
    ev.seq = e.seq;
    ev.info = e.info;
    ev.end = end;
    ev.at_us = now_us;
    events_.push_back(std::move(ev));
}

}  // namespace presence::plugin
