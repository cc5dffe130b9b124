#include "checker.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <variant>

namespace presence::sim {

namespace {

void require(bool ok, const world& w, const std::string& what) {
    if (!ok) throw violation(w.stamp() + ": " + what);
}

std::string ms_text(core::time_point t, const world& w) {
    return std::to_string((t - w.now()).count()) + "ms from now";
}

const core::device_view* find_device(const std::vector<core::device_view>& devices,
                                     const std::string& device_id) {
    for (const auto& d : devices) {
        if (d.device_id == device_id) return &d;
    }
    return nullptr;
}

// Whether a retained user record says "nobody here": what a forgotten user leaves behind.
bool empty_record(const core::user_presence& u) {
    return !u.online && u.devices.empty() && u.parties.empty();
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

void checker::after_step(const world& w) {
    if (w.effects_published()) check_batch(w);
    check_lost_inputs(w);
    if (!w.controller_up()) return;
    check_retained(w);
    check_ghosts(w);
}

void checker::check_batch(const world& w) {
    const auto before_snapshot = last_snapshot_;
    const auto before_event = last_event_;
    std::map<std::string, std::optional<std::uint64_t>> latest;  // nullopt: cleared
    std::set<std::string> snapshotted;
    const auto& published = w.last_published();
    for (std::size_t i = 0; i < published.size(); ++i) {
        const auto& pub = published[i];
        const auto& starts = w.drain_starts();
        if (std::find(starts.begin(), starts.end(), i) != starts.end()) snapshotted.clear();
        const auto& topic = pub.topic;
        if (!starts_with(topic, "party/") || ends_with(topic, wire::json_suffix)) continue;
        if (ends_with(topic, "/members") && pub.payload.empty()) {
            const auto party_id = topic.substr(6, topic.size() - 6 - 8);
            snapshotted.insert(party_id);
            latest[party_id] = std::nullopt;
        } else if (ends_with(topic, "/members")) {
            core::party_snapshot snap;
            require(!wire::decode(pub.payload, snap), w, "published snapshot does not decode");
            require(!snap.members.empty(), w, "snapshot of " + snap.party_id + " has no members");
            require(!snapshotted.contains(snap.party_id), w,
                    "two snapshots of " + snap.party_id + " in one drain");
            snapshotted.insert(snap.party_id);
            // A republish (after a new broker epoch) repeats the very same snapshot.
            const bool repeat = last_snapshot_payload_[snap.party_id] == pub.payload;
            last_snapshot_payload_[snap.party_id] = pub.payload;
            if (auto it = before_snapshot.find(snap.party_id);
                it != before_snapshot.end() && !repeat) {
                require(snap.revision > it->second, w,
                        "revision of " + snap.party_id + " did not grow: " +
                            std::to_string(snap.revision) + " after " + std::to_string(it->second));
            }
            if (auto it = before_event.find(snap.party_id); it != before_event.end()) {
                require(snap.revision >= it->second, w,
                        "snapshot revision of " + snap.party_id + " below a published event's: " +
                            std::to_string(snap.revision) + " after " + std::to_string(it->second));
            }
            last_snapshot_[snap.party_id] = snap.revision;
            latest[snap.party_id] = snap.revision;
        } else if (ends_with(topic, "/events")) {
            core::party_event ev;
            require(!wire::decode(pub.payload, ev), w, "published event does not decode");
            for (const auto* prev : {&before_snapshot, &before_event}) {
                if (auto it = prev->find(ev.party_id); it != prev->end()) {
                    require(ev.revision > it->second, w,
                            "event revision of " + ev.party_id +
                                " did not grow: " + std::to_string(ev.revision) + " after " +
                                std::to_string(it->second));
                }
            }
            if (auto it = latest.find(ev.party_id); it != latest.end() && it->second) {
                require(ev.revision <= *it->second, w,
                        "event revision " + std::to_string(ev.revision) + " of " + ev.party_id +
                            " beyond its snapshot's " + std::to_string(*it->second));
            }
            auto& last = last_event_[ev.party_id];
            last = std::max(last, ev.revision);
            if (ev.kind == core::event_kind::left) {
                for (std::size_t d = 0; d < w.devices().size(); ++d) {
                    if (w.devices()[d].key.user_id != ev.member.user_id) continue;
                    if (!w.truly_joined(d, ev.party_id)) continue;
                    // A device whose join was acknowledged and lost has not been confirmed yet:
                    // the app is still re-asserting it (check_lost_inputs bounds how long).
                    if (w.truth(d, ev.party_id).lost_at) continue;
                    const auto since = *w.truth(d, ev.party_id).true_since;
                    require(w.now() - since <= w.config().slack(), w,
                            "false leave: " + ev.member.user_id + " left " + ev.party_id + " (" +
                                core::to_string(ev.reason) + ") while " +
                                w.devices()[d].key.device_id +
                                " has been connected and joined for " +
                                std::to_string((w.now() - since).count()) + "ms");
                }
            }
        }
    }
    if (!w.controller_up()) return;
    for (const auto& [party_id, rev] : latest) {
        if (!rev) {
            require(!w.engine().snapshot(party_id).has_value(), w,
                    "party " + party_id + " was cleared but the engine still lists members");
        }
    }
}

// Whether the engine lists the device in the party (a lost leave only matters while it does: a
// sign-out or an expiry since has done what the leave would have).
namespace {
bool engine_lists(const world& w, const core::device_key& key, const std::string& party_id) {
    if (!w.controller_up()) return false;
    const auto snapshot = w.engine().snapshot(party_id);
    if (!snapshot) return false;
    for (const auto& m : snapshot->members) {
        if (m.user_id != key.user_id) continue;
        for (const auto& d : m.devices) {
            if (d.device_id == key.device_id) return true;
        }
    }
    return false;
}
}  // namespace

void checker::check_lost_inputs(const world& w) const {
    const auto bound = w.config().heal_bound();
    for (std::size_t d = 0; d < w.devices().size(); ++d) {
        for (const auto& party_id : w.parties()) {
            const auto& t = w.truth(d, party_id);
            const auto& dev = w.devices()[d];
            if (t.leave_lost_at && dev.conn && w.connections()[*dev.conn].carries_truth() &&
                engine_lists(w, dev.key, party_id)) {
                require(w.now() - *t.leave_lost_at <= bound, w,
                        "lost leave not healed: " + dev.key.device_id + " left " + party_id +
                            ", its leave was lost " +
                            std::to_string((w.now() - *t.leave_lost_at).count()) +
                            "ms ago and the party still lists it");
            }
            const auto& lost_at = t.lost_at;
            if (!lost_at || !w.truly_joined(d, party_id)) continue;
            require(w.now() - *lost_at <= bound, w,
                    "lost join not healed: " + w.devices()[d].key.device_id + " joined " +
                        party_id + ", its join was lost " +
                        std::to_string((w.now() - *lost_at).count()) +
                        "ms ago and the party still does not list it");
        }
    }
}

void checker::check_retained(const world& w) const {
    const auto& eng = w.engine();
    const auto& retained = w.retained();
    for (const auto& party_id : w.parties()) {
        const auto topic = wire::members_topic(party_id);
        const auto snap = eng.snapshot(party_id);
        const auto stored = retained.find(topic);
        const bool json = retained.contains(topic + std::string(wire::json_suffix));
        if (!snap) {
            require(stored == retained.end() && !json, w,
                    "retained snapshot of " + party_id + " for a party the engine does not hold");
            continue;
        }
        require(stored != retained.end() && json, w,
                "no retained snapshot (or JSON twin) of live party " + party_id);
        core::party_snapshot decoded;
        require(!wire::decode(stored->second, decoded), w, "retained snapshot does not decode");
        // A coalesced snapshot held back lags the engine until it falls due.
        require(w.controller().snapshot_pending(party_id) || stored->second == wire::encode(*snap),
                w,
                "retained snapshot of " + party_id + " (rev " + std::to_string(decoded.revision) +
                    ") differs from the engine's (rev " + std::to_string(snap->revision) + ")");
        require(decoded.revision <= snap->revision, w,
                "retained snapshot of " + party_id + " is ahead of the engine");
        require(!snap->members.empty(), w, "engine holds party " + party_id + " with no members");
        for (const auto& m : snap->members) {
            require(!m.devices.empty(), w,
                    "member " + m.user_id + " of " + party_id + " lists no devices");
            const bool live = std::any_of(m.devices.begin(), m.devices.end(), [](const auto& d) {
                return d.state == core::device_state::live;
            });
            require(
                live == (m.state == core::member_state::present), w,
                "member " + m.user_id + " of " + party_id + " is " +
                    (live ? "not present despite a live device" : "present with no live device"));
            if (!live) {
                core::time_point deadline{};
                for (const auto& d : m.devices) deadline = std::max(deadline, d.reconnect_deadline);
                require(m.reconnect_deadline == deadline, w,
                        "member " + m.user_id + " of " + party_id +
                            " deadline is not the latest device deadline");
            }
            const auto user = eng.user(m.user_id);
            require(user.has_value(), w, "member " + m.user_id + " is not a known user");
            for (const auto& d : m.devices) {
                const auto* known = find_device(user->devices, d.device_id);
                require(known != nullptr && *known == d, w,
                        "member " + m.user_id + " of " + party_id + " lists device " + d.device_id +
                            " that the engine does not know as such");
                if (d.state == core::device_state::reconnecting) {
                    require(d.reconnect_deadline > w.now(), w,
                            "device " + d.device_id + " outlived its deadline (" +
                                ms_text(d.reconnect_deadline, w) + ")");
                }
            }
        }
    }
    for (std::size_t u = 0; u < w.profiles().size(); ++u) {
        const std::string user_id = "u" + std::to_string(u);
        const auto user = eng.user(user_id);
        const auto stored = retained.find(wire::user_topic(user_id));
        const auto record = retained.find(wire::controller_state_topic(user_id));
        if (!user) {
            require(record == retained.end(), w,
                    "private record of forgotten user " + user_id + " still retained");
            if (stored == retained.end()) continue;
            core::user_presence decoded;
            require(!wire::decode(stored->second, decoded), w, "user record does not decode");
            require(empty_record(decoded), w,
                    "retained record of forgotten user " + user_id + " still lists devices");
            continue;
        }
        require(stored != retained.end(), w, "no retained record of known user " + user_id);
        require(stored->second == wire::encode(*user), w,
                "retained record of " + user_id + " differs from the engine's");
        require(record != retained.end() && record->second == wire::encode(*eng.record(user_id)), w,
                "private record of " + user_id + " differs from the engine's");
    }
}

void checker::check_ghosts(const world& w) const {
    const auto slack = w.config().slack();
    const auto grace = w.config().grace;
    auto check_live_session = [&](std::size_t d, const core::device_view& view) {
        const auto* it = w.connection_of(d, view);
        require(it != nullptr, w,
                "device " + view.device_id + " is live with unknown session " + view.session_id +
                    " and connection " + std::to_string(view.connection_seq));
        if (!it->carries_truth()) {
            require(w.now() - it->ended_at <= slack, w,
                    "ghost: " + view.device_id + " still live on " + view.session_id +
                        ", which ended " + std::to_string((w.now() - it->ended_at).count()) +
                        "ms ago");
        }
    };
    const auto& eng = w.engine();
    for (const auto& party_id : eng.party_ids()) {
        const auto snap = eng.snapshot(party_id);
        for (const auto& m : snap->members) {
            for (const auto& view : m.devices) {
                const auto d = w.device_of({m.user_id, view.device_id});
                require(d.has_value(), w, "unknown device " + view.device_id + " listed");
                if (w.truly_joined(*d, party_id)) continue;
                const auto& t = w.truth(*d, party_id);
                require(t.last_true.has_value(), w,
                        "ghost: " + view.device_id + " listed in " + party_id +
                            " but never truly joined it");
                // A lost leave: the device may be listed while the app was online to re-assert
                // it (check_lost_inputs bounds that), and a grace period after.
                auto last = *t.last_true;
                if (t.leave_lost_live) last = std::max(last, *t.leave_lost_live);
                const auto limit = last + grace + slack;
                if (view.state == core::device_state::live) {
                    check_live_session(*d, view);
                    require(w.now() <= limit, w,
                            "ghost: " + view.device_id + " live in " + party_id + " " +
                                std::to_string((w.now() - *t.last_true).count()) +
                                "ms after it stopped being there");
                } else {
                    require(view.reconnect_deadline <= limit, w,
                            "ghost: " + view.device_id + " in " + party_id + " has deadline " +
                                ms_text(view.reconnect_deadline, w) +
                                ", beyond loss + grace + slack");
                }
            }
        }
    }
    for (std::size_t d = 0; d < w.devices().size(); ++d) {
        const auto user = eng.user(w.devices()[d].key.user_id);
        if (!user) continue;
        const auto* view = find_device(user->devices, w.devices()[d].key.device_id);
        if (view != nullptr && view->state == core::device_state::live) {
            check_live_session(d, *view);
        }
    }
}

void checker::converged(const world& w) const {
    require(w.controller_up(), w, "controller is down after convergence");
    const auto& eng = w.engine();
    std::map<std::string, std::map<std::string, std::set<std::string>>> truth;  // party/user/dev
    std::map<std::string, std::set<std::string>> user_parties;
    std::map<std::string, std::map<std::string, std::string>> live;  // user/device -> session
    for (std::size_t d = 0; d < w.devices().size(); ++d) {
        const auto& dev = w.devices()[d];
        if (dev.conn && w.connections()[*dev.conn].carries_truth()) {
            const auto& conn = w.connections()[*dev.conn];
            live[dev.key.user_id][dev.key.device_id] = conn.session;
            if (w.config().plugin) {
                const auto user = eng.user(dev.key.user_id);
                const auto* view = user ? find_device(user->devices, dev.key.device_id) : nullptr;
                require(view != nullptr && view->broker_epoch == conn.epoch &&
                            view->connection_seq == conn.seq,
                        w,
                        "converged device " + dev.key.device_id +
                            " does not record its broker connection " + std::to_string(conn.seq));
            }
        }
        for (const auto& party_id : w.parties()) {
            if (!w.truly_joined(d, party_id)) continue;
            truth[party_id][dev.key.user_id].insert(dev.key.device_id);
            user_parties[dev.key.user_id].insert(party_id);
        }
    }
    std::vector<std::string> expected_parties;
    for (const auto& [party_id, members] : truth) expected_parties.push_back(party_id);
    require(eng.party_ids() == expected_parties, w, "converged parties differ from the truth");
    for (const auto& [party_id, members] : truth) {
        const auto snap = eng.snapshot(party_id);
        require(snap->members.size() == members.size(), w,
                "converged " + party_id + " has " + std::to_string(snap->members.size()) +
                    " members, truth " + std::to_string(members.size()));
        for (const auto& m : snap->members) {
            const auto it = members.find(m.user_id);
            require(it != members.end(), w, "converged " + party_id + " lists " + m.user_id);
            require(m.state == core::member_state::present, w,
                    "converged member " + m.user_id + " of " + party_id + " is not present");
            std::set<std::string> listed;
            for (const auto& d : m.devices) {
                listed.insert(d.device_id);
                require(d.state == core::device_state::live &&
                            d.session_id == live[m.user_id][d.device_id],
                        w, "converged device " + d.device_id + " is not live on its session");
            }
            require(listed == it->second, w,
                    "converged " + party_id + " devices of " + m.user_id + " differ");
        }
    }
    for (std::size_t u = 0; u < w.profiles().size(); ++u) {
        const std::string user_id = "u" + std::to_string(u);
        const auto user = eng.user(user_id);
        const auto it = live.find(user_id);
        if (it == live.end()) {
            require(!user.has_value(), w, "converged engine still knows offline user " + user_id);
            continue;
        }
        require(user.has_value() && user->online, w, "converged user " + user_id + " not online");
        std::map<std::string, std::string> devices;
        for (const auto& d : user->devices) {
            require(d.state == core::device_state::live, w,
                    "converged device " + d.device_id + " is not live");
            devices[d.device_id] = d.session_id;
        }
        require(devices == it->second, w, "converged devices of " + user_id + " differ");
        require(user->profile == w.profiles()[u], w,
                "converged profile of " + user_id + " differs");
        const auto& parties = user_parties[user_id];
        require(std::vector<std::string>(parties.begin(), parties.end()) == user->parties, w,
                "converged parties of " + user_id + " differ");
    }
    check_retained(w);
}

}  // namespace presence::sim
