#include "world.hpp"

#include <algorithm>
#include <iostream>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <variant>

namespace presence::sim {

using wire::inbound_kind;

namespace {

duration ms(std::int64_t count) { return duration(count); }

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

sim_stats& sim_stats::operator+=(const sim_stats& o) {
    steps += o.steps;
    messages += o.messages;
    restarts += o.restarts;
    takeovers += o.takeovers;
    duplicates += o.duplicates;
    drops += o.drops;
    wills += o.wills;
    lifecycle_events += o.lifecycle_events;
    clean_disconnects += o.clean_disconnects;
    broker_crashes += o.broker_crashes;
    lost_after_ack += o.lost_after_ack;
    reasserts += o.reasserts;
    max_members = std::max(max_members, o.max_members);
    return *this;
}

world::world(const sim_config& config) : config_(config), rng_(config.seed) {
    using namespace std::chrono;
    start_ = time_point(sys_days(year(2026) / January / 1)) + ms(rng_.between(0, 3'600'000));
    now_ = start_;
    if (rng_.chance(75)) {
        config_.snapshot_interval = ms(rng_.between(100, 1500));
        config_.coalesce_above = static_cast<std::size_t>(rng_.between(1, 3));
    }
    const auto users = rng_.between(2, 6);
    const auto parties = rng_.between(1, 4);
    for (std::int64_t p = 0; p < parties; ++p) parties_.push_back("p" + std::to_string(p));
    for (std::int64_t u = 0; u < users; ++u) {
        const std::string user_id = "u" + std::to_string(u);
        profiles_.push_back({user_id + " v0", "https://img.example/" + user_id + ".png", ""});
        const auto count = rng_.between(1, 3);
        for (std::int64_t d = 0; d < count; ++d) {
            device dev;
            dev.key = {user_id, user_id + ".d" + std::to_string(d)};
            dev.user = static_cast<std::size_t>(u);
            devices_.push_back(std::move(dev));
        }
    }
    host_.emplace(host_config());
    trace("world: " + std::to_string(users) + " users, " + std::to_string(devices_.size()) +
          " devices, " + std::to_string(parties) +
          " parties, snapshot_interval=" + std::to_string(config_.snapshot_interval.count()) +
          "ms coalesce_above=" + std::to_string(config_.coalesce_above));
    if (config_.plugin) {
        plugin_.session = "plugin";
        broker_restart();
    }
}

const connection* world::connection_of(std::size_t device_index,
                                       const core::device_view& view) const {
    const connection* found = nullptr;
    for (const auto& conn : connections_) {
        if (conn.device != device_index) continue;
        const bool by_session = !view.session_id.empty() && conn.session == view.session_id;
        const bool by_seq = view.broker_epoch != 0 && conn.epoch == view.broker_epoch &&
                            conn.seq == view.connection_seq;
        if (by_session || by_seq) found = &conn;  // connections_ is in creation order
    }
    return found;
}

time_point world::device_tail(std::size_t device_index) const {
    time_point tail = devices_[device_index].last_deliver_at;
    for (const auto& conn : connections_) {
        if (conn.device != device_index) continue;
        tail = std::max(
            tail, conn.pending.empty() ? conn.last_deliver_at : conn.pending.back().deliver_at);
    }
    return tail;
}

void world::enqueue_plugin(message msg) {
    msg.connection = plugin_connection;
    msg.seq = next_seq_++;
    msg.published = now_;
    auto floor =
        plugin_.pending.empty() ? plugin_.last_deliver_at : plugin_.pending.back().deliver_at;
    if (msg.kind == inbound_kind::broker_epoch || msg.kind == inbound_kind::broker_census) {
        // A restarted broker delivers what it had queued for the controller first; the census is
        // taken at a tick after the controller's subscription, behind the same queue.
        for (const auto& conn : connections_) {
            if (!conn.pending.empty()) floor = std::max(floor, conn.pending.back().deliver_at);
        }
    } else {
        // The broker publishes a connection's end after everything the device sent before it.
        floor = std::max(floor, device_tail(msg.device));
    }
    msg.deliver_at = std::max(now_ + ms(rng_.between(0, config_.max_delay.count())), floor);
    ++stats_.messages;
    plugin_.pending.push_back(std::move(msg));
}

void world::publish_lifecycle(connection& conn, inbound_kind kind, core::connection_end end) {
    const auto& key = devices_[conn.device].key;
    message msg;
    msg.kind = kind;
    msg.device = conn.device;
    msg.session = conn.session + "@" + std::to_string(conn.seq);
    msg.topic = wire::inbound_topic(kind, key);
    msg.payload = wire::encode_connection_event(key, conn.epoch, conn.seq, end, now_);
    ++stats_.lifecycle_events;
    enqueue_plugin(std::move(msg));
}

void world::broker_crash() {
    ++stats_.broker_crashes;
    broker_down_ = true;
    broker_up_at_ = now_ + ms(rng_.between(300, config_.max_broker_downtime.count()));
    trace("broker crashes (no wills, no lifecycle events); back in " +
          std::to_string((broker_up_at_ - now_).count()) + "ms");
    for (auto& dev : devices_) {
        if (!dev.conn) continue;
        auto& conn = connections_[*dev.conn];
        if (!conn.open) continue;
        end_truth(conn);
        if (conn.carries_truth()) conn.ended_at = now_;
        conn.open = false;
        if (dev.state != app_state::online) continue;  // unaware apps notice on their own
        dev.state = app_state::offline;
        const auto grace = config_.grace.count();
        dev.reconnect_at = broker_up_at_ + (rng_.chance(60) ? ms(rng_.between(100, 3000))
                                                            : ms(rng_.between(grace, 2 * grace)));
    }
}

void world::broker_restart() {
    broker_down_ = false;
    epoch_ = rng_.next() | 1U;  // never 0
    epoch_started_ = now_;
    next_conn_seq_ = 0;
    trace("broker starts with epoch " + std::to_string(epoch_));
    message msg;
    msg.kind = inbound_kind::broker_epoch;
    msg.session = "epoch " + std::to_string(epoch_);
    msg.topic = std::string(wire::broker_epoch_topic);
    msg.payload = wire::encode_broker_epoch(epoch_, epoch_started_);
    enqueue_plugin(std::move(msg));
}

std::string world::stamp() const {
    const auto t = (now_ - start_).count();
    std::string s = std::to_string(t / 1000) + "." + std::to_string(1000 + t % 1000).substr(1);
    return "t+" + s + "s";
}

void world::trace(const std::string& line) {
    std::string entry = stamp() + " " + line;
    if (config_.verbose) std::cout << entry << '\n';
    trace_.push_back(std::move(entry));
    while (trace_.size() > 40) trace_.pop_front();
}

std::optional<std::size_t> world::device_of(const core::device_key& key) const {
    for (std::size_t i = 0; i < devices_.size(); ++i) {
        if (devices_[i].key == key) return i;
    }
    return std::nullopt;
}

bool world::truly_joined(std::size_t device_index, const std::string& party) const {
    const auto& dev = devices_[device_index];
    if (!dev.conn) return false;
    const auto& conn = connections_[*dev.conn];
    return conn.carries_truth() && conn.joined.contains(party);
}

const pair_truth& world::truth(std::size_t device_index, const std::string& party) const {
    static const pair_truth never;
    auto it = truth_.find({device_index, party});
    return it == truth_.end() ? never : it->second;
}

void world::refresh_truth() {
    for (std::size_t d = 0; d < devices_.size(); ++d) {
        for (const auto& party : parties_) {
            auto& t = truth_[{d, party}];
            const auto& dev = devices_[d];
            if (t.leave_lost_at && dev.conn && connections_[*dev.conn].carries_truth()) {
                t.leave_lost_live = now_;
            }
            if (truly_joined(d, party)) {
                if (!t.true_since) t.true_since = now_;
                t.last_true = now_;
            } else {
                t.true_since.reset();
                t.lost_at.reset();
            }
        }
    }
}

void world::step(bool faults) {
    now_ += ms(rng_.between(20, 250));
    ++stats_.steps;
    effects_published_ = false;
    last_published_.clear();
    drain_starts_.clear();
    if (broker_down_ && now_ >= broker_up_at_) broker_restart();
    refresh_truth();
    for (auto& dev : devices_) {
        if (dev.state == app_state::unaware_dead && now_ >= dev.notice_at) {
            dev.state = app_state::offline;
            trace(dev.key.device_id + " app notices the dead connection");
        }
        if (faults && dev.state == app_state::offline && now_ >= dev.reconnect_at) connect(dev);
    }
    if (faults) {
        const auto actions = rng_.between(0, 2);
        for (std::int64_t i = 0; i < actions; ++i) act(rng_.index(devices_.size()));
    }
    reassert_all();
    if (config_.plugin && faults && !broker_down_ && rng_.chance(1)) broker_crash();
    broker_work();
    maybe_duplicate(faults);
    refresh_truth();
    controller_work(faults);
}

void world::act(std::size_t device_index) {
    auto& dev = devices_[device_index];
    switch (dev.state) {
        case app_state::signed_out:
            if (rng_.chance(60)) {
                dev.desired.clear();
                dev.intents.clear();
                if (rng_.chance(70)) dev.desired.insert(parties_[rng_.index(parties_.size())]);
                dev.maybe_joined.insert(dev.desired.begin(), dev.desired.end());
                for (const auto& party : dev.desired) intend(dev, party, true);
                trace(dev.key.device_id + " signs in");
                connect(dev);
            }
            return;
        case app_state::online:
        case app_state::unaware_dead:
            act_online(dev);
            return;
        case app_state::offline:
            return;
    }
}

void world::act_online(device& dev) {
    const auto roll = rng_.between(0, 99);
    const bool aware = dev.state == app_state::online;
    auto& conn = connections_[*dev.conn];
    if (roll < 25) {
        const auto& party = parties_[rng_.index(parties_.size())];
        if (dev.desired.contains(party)) return;
        dev.desired.insert(party);
        dev.maybe_joined.insert(party);
        intend(dev, party, true);
        trace(dev.key.device_id + " joins " + party);
        publish(dev, inbound_kind::join, party);
    } else if (roll < 40) {
        if (dev.desired.empty()) return;
        auto it = dev.desired.begin();
        std::advance(it, static_cast<std::ptrdiff_t>(rng_.index(dev.desired.size())));
        const std::string party = *it;
        dev.desired.erase(it);
        intend(dev, party, false);
        trace(dev.key.device_id + " leaves " + party);
        publish(dev, inbound_kind::leave, party);
    } else if (roll < 50 && aware) {
        end_truth(conn);
        conn.network_up = false;
        conn.ended_at = now_;
        conn.detect_at = now_ + ms(rng_.between(config_.keepalive_detect_min.count(),
                                                config_.keepalive_detect_max.count()));
        dev.state = app_state::unaware_dead;
        dev.notice_at = now_ + ms(rng_.between(1000, 5000));
        const auto grace = config_.grace.count();
        dev.reconnect_at =
            dev.notice_at + (rng_.chance(60) ? ms(rng_.between(200, 6000))
                                             : ms(rng_.between(grace + 1000, 3 * grace)));
        trace(dev.key.device_id + " airplane mode (" + conn.session + " silently dead)");
    } else if (roll < 57 && aware) {
        trace(dev.key.device_id + " socket error (" + conn.session + " closed, will)");
        close(conn, true);
        dev.state = app_state::offline;
        dev.reconnect_at = now_ + ms(rng_.between(200, 3000));
    } else if (roll < 63 && aware) {
        trace(dev.key.device_id + " network switch: reconnects over the old connection");
        connect(dev);
    } else if (roll < 68) {
        trace(dev.key.device_id + " signs out");
        publish(dev, inbound_kind::disconnect);
        if (conn.carries_truth()) close(conn, false);
        dev.desired.clear();
        dev.intents.clear();  // the SDK's forget(): sign-out left every party
        dev.state = app_state::signed_out;
    } else if (roll < 80) {
        auto& prof = profiles_[dev.user];
        prof.display_name = dev.key.user_id + " v" + std::to_string(rng_.between(1, 1'000'000));
        prof.status_text = rng_.chance(50) ? "" : "busy";
        trace(dev.key.device_id + " updates the profile to " + prof.display_name);
        publish(dev, inbound_kind::profile);
    } else if (roll < 86 && aware && config_.plugin) {
        ++stats_.clean_disconnects;
        trace(dev.key.device_id + " disconnects cleanly (" + conn.session +
              " closed, no will, no leave)");
        close(conn, false);
        dev.state = app_state::offline;
        const auto grace = config_.grace.count();
        dev.reconnect_at = now_ + (rng_.chance(60) ? ms(rng_.between(200, 6000))
                                                   : ms(rng_.between(grace, 2 * grace)));
    }
}

void world::connect(device& dev) {
    if (broker_down_) {
        dev.state = app_state::offline;
        dev.reconnect_at = broker_up_at_ + ms(rng_.between(100, 2000));
        trace(dev.key.device_id + " cannot connect: the broker is down");
        return;
    }
    std::optional<std::size_t> taken_over;
    if (dev.conn && connections_[*dev.conn].open) {
        auto& old = connections_[*dev.conn];
        // Mosquitto 2.0 clears the old connection's will on takeover; the plugin reports it.
        const bool will = rng_.chance(50) && !config_.plugin;
        ++stats_.takeovers;
        trace(dev.key.device_id + " takeover of " + old.session +
              (will ? " (broker publishes its will)" : " (no will)"));
        if (config_.plugin) {
            taken_over = *dev.conn;
        } else {
            close(old, will);
        }
    }
    connection conn;
    conn.device = static_cast<std::size_t>(&dev - devices_.data());
    conn.session = "s" + std::to_string(++next_session_);
    dev.conn = connections_.size();
    connections_.push_back(std::move(conn));
    dev.state = app_state::online;
    if (config_.plugin) {
        auto& fresh = connections_.back();
        fresh.epoch = epoch_;
        fresh.seq = ++next_conn_seq_;
        // Broker order: the new connection's connected event, then the old one's end.
        publish_lifecycle(fresh, inbound_kind::lifecycle_connected,
                          core::connection_end::unspecified);
        if (taken_over) {
            close(connections_[*taken_over], false, core::connection_end::taken_over);
        }
    }
    trace(dev.key.device_id + " connects with " + connections_.back().session);
    publish(dev, inbound_kind::connect);
    for (const auto& party : dev.desired) publish(dev, inbound_kind::join, party);
    const std::set<std::string> stale = dev.maybe_joined;
    for (const auto& party : stale) {
        if (dev.desired.contains(party)) continue;
        // A party the server may still list is one the app wants out of: a left intent.
        if (!dev.intents.contains(party)) intend(dev, party, false);
        publish(dev, inbound_kind::leave, party);
    }
    // The SDK's onReconnected(): the watch resubscribes (the retained snapshot arrives again), and
    // every intent it just re-published re-arms its confirm timer with the current delay.
    // A lost leave gets a fresh chance to heal on every connection.
    const auto index = static_cast<std::size_t>(&dev - devices_.data());
    for (auto& [pair, t] : truth_) {
        if (pair.first == index && t.leave_lost_at) t.leave_lost_at = now_;
    }
    for (auto& [party, intent] : dev.intents) {
        intent.seen.reset();
        if (intent.joined || stale.contains(party)) {
            intent.last_assert = now_;
            intent.retry_at = now_ + intent.retry_delay;
        }
    }
}

void world::intend(device& dev, const std::string& party, bool joined) {
    // A join supersedes a lost leave: nothing to heal any more (its ghost bound keeps counting
    // from the app's last chance to re-assert it: the join may never leave the phone).
    if (joined)
        truth_[{static_cast<std::size_t>(&dev - devices_.data()), party}].leave_lost_at.reset();
    auto& intent = dev.intents[party];
    intent.joined = joined;
    intent.last_assert = now_;
    intent.retry_delay = config_.reassert_first;
    intent.retry_at = now_ + intent.retry_delay;
}

// The SDK's checkIntent_() and confirm timer, per online app and party intent: a snapshot that
// disagrees with the intent re-publishes it (at most once per reassert_min_gap), and so does the
// timer when it fires unconfirmed (its delay doubles up to reassert_max). The app sees the
// broker's retained store as it is now (the simulation has no delay on the way out).
void world::reassert_all() {
    for (std::size_t d = 0; d < devices_.size(); ++d) {
        auto& dev = devices_[d];
        if (dev.state != app_state::online) continue;  // only a live connection gets snapshots
        for (auto& [party, intent] : dev.intents) {
            const auto it = retained_.find(wire::members_topic(party));
            const std::string payload = it == retained_.end() ? std::string() : it->second;
            const bool arrived = intent.seen != payload;
            if (arrived) {
                intent.seen = payload;
                intent.listed_live = false;
                intent.listed_any = false;
                core::party_snapshot snap;
                if (!payload.empty() && !wire::decode(payload, snap)) {
                    for (const auto& m : snap.members) {
                        if (m.user_id != dev.key.user_id) continue;
                        for (const auto& view : m.devices) {
                            if (view.device_id != dev.key.device_id) continue;
                            intent.listed_any = true;
                            intent.listed_live = view.state == core::device_state::live;
                        }
                    }
                }
            }
            const bool confirmed = intent.joined ? intent.listed_live : !intent.listed_any;
            if (confirmed && intent.joined) {
                auto& t = truth_[{d, party}];
                if (t.lost_at) {
                    trace(dev.key.device_id + " sees itself listed in " + party +
                          ": its lost join healed");
                }
                t.lost_at.reset();
            }
            if (confirmed && !intent.joined) {
                auto& t = truth_[{d, party}];
                if (t.leave_lost_at) {
                    trace(dev.key.device_id + " sees itself gone from " + party +
                          ": its lost leave healed");
                }
                t.leave_lost_at.reset();
                t.leave_lost_live.reset();
            }
            if (confirmed) {
                if (intent.retry_at && now_ >= *intent.retry_at) intent.retry_at.reset();
                continue;
            }
            if (intent.retry_at && now_ >= *intent.retry_at) {
                intent.retry_delay = std::min(2 * intent.retry_delay, config_.reassert_max);
                reassert(dev, party, intent, "its confirm timer fired");
            } else if (arrived && now_ - intent.last_assert >= config_.reassert_min_gap) {
                reassert(dev, party, intent, "a snapshot disagrees");
            }
        }
    }
}

void world::reassert(device& dev, const std::string& party, party_intent& intent, const char* why) {
    intent.last_assert = now_;
    intent.retry_at = now_ + intent.retry_delay;
    ++stats_.reasserts;
    trace(dev.key.device_id + " re-asserts its " + (intent.joined ? "join of " : "leave of ") +
          party + " (" + why + ")");
    publish(dev, intent.joined ? inbound_kind::join : inbound_kind::leave, party, true);
}

bool world::apps_confirmed() const {
    return std::all_of(devices_.begin(), devices_.end(), [](const device& dev) {
        if (dev.state != app_state::online) return true;
        return std::all_of(dev.intents.begin(), dev.intents.end(), [](const auto& entry) {
            const auto& intent = entry.second;
            return intent.seen && (intent.joined ? intent.listed_live : !intent.listed_any);
        });
    });
}

void world::publish(device& dev, inbound_kind kind, const std::string& party, bool reassert) {
    auto& conn = connections_[*dev.conn];
    message msg;
    msg.kind = kind;
    msg.device = conn.device;
    msg.connection = *dev.conn;
    msg.party = party;
    msg.session = conn.session;
    msg.reassert = reassert;
    msg.topic = wire::inbound_topic(kind, dev.key, party);
    switch (kind) {
        case inbound_kind::connect:
            msg.payload = wire::encode_connect(conn.session, profiles_[dev.user]);
            break;
        case inbound_kind::profile:
            msg.payload = wire::encode_profile(profiles_[dev.user]);
            break;
        case inbound_kind::will:
            msg.payload = wire::encode_will(conn.session);
            break;
        case inbound_kind::join:
        case inbound_kind::leave:
        case inbound_kind::disconnect:
            msg.payload = wire::encode_session(conn.session);
            break;
        case inbound_kind::lifecycle_connected:
        case inbound_kind::lifecycle_disconnected:
        case inbound_kind::broker_epoch:
        case inbound_kind::broker_census:
            throw std::logic_error("apps never publish broker lifecycle messages");
    }
    if (!conn.carries_truth()) {
        ++stats_.drops;
        trace("  dropped on the device: " + msg.topic);
        return;
    }
    if (kind == inbound_kind::join) {
        conn.joined.insert(party);
        auto& t = truth_[{conn.device, party}];
        if (!t.true_since) t.true_since = now_;
        t.last_true = now_;
    }
    if (kind == inbound_kind::leave) {
        end_truth(conn, party);
        conn.joined.erase(party);
        // Acknowledged is not enough: a crash may lose an acknowledged leave, and a snapshot that
        // does not list the device may predate the join (coalescing), so only a delivered
        // sign-out tells the app the server lists it nowhere.
    }
    if (kind == inbound_kind::disconnect) {
        end_truth(conn);
        conn.joined.clear();
        dev.maybe_joined.clear();
        for (auto& [pair, t] : truth_) {
            if (pair.first != conn.device) continue;
            t.leave_lost_at.reset();
            t.leave_lost_live.reset();
        }
    }
    enqueue(conn, std::move(msg));
}

void world::end_truth(const connection& conn, const std::string& party) {
    if (!conn.carries_truth()) return;
    for (const auto& joined : conn.joined) {
        if (!party.empty() && joined != party) continue;
        auto& t = truth_[{conn.device, joined}];
        t.last_true = now_;
        t.true_since.reset();
        t.lost_at.reset();
    }
}

void world::close(connection& conn, bool will, core::connection_end end) {
    end_truth(conn);
    if (conn.carries_truth()) conn.ended_at = now_;
    conn.open = false;
    if (will) enqueue_will(conn);
    if (config_.plugin) publish_lifecycle(conn, inbound_kind::lifecycle_disconnected, end);
}

void world::enqueue_will(connection& conn) {
    ++stats_.wills;
    message msg;
    msg.kind = inbound_kind::will;
    msg.device = conn.device;
    msg.connection = static_cast<std::size_t>(&conn - connections_.data());
    msg.session = conn.session;
    msg.topic = wire::inbound_topic(inbound_kind::will, devices_[conn.device].key);
    msg.payload = wire::encode_will(conn.session);
    enqueue(conn, std::move(msg));
}

void world::enqueue(connection& conn, message msg) {
    msg.seq = next_seq_++;
    msg.published = now_;
    auto floor = conn.pending.empty() ? conn.last_deliver_at : conn.pending.back().deliver_at;
    auto& dev = devices_[conn.device];
    const bool app_message = msg.kind != inbound_kind::will;
    if (app_message && !config_.reorder_device_connections) {
        floor = std::max(floor, dev.last_deliver_at);
    }
    if (config_.plugin) {
        // One broker, one subscriber: nothing the device sends overtakes an earlier lifecycle
        // event.
        floor = std::max(floor, plugin_.pending.empty() ? plugin_.last_deliver_at
                                                        : plugin_.pending.back().deliver_at);
    }
    msg.deliver_at = std::max(now_ + ms(rng_.between(0, config_.max_delay.count())), floor);
    if (app_message) dev.last_deliver_at = msg.deliver_at;
    ++stats_.messages;
    conn.pending.push_back(std::move(msg));
}

void world::broker_work() {
    for (auto& conn : connections_) {
        if (conn.open && !conn.network_up && now_ >= conn.detect_at) {
            trace("broker: keepalive timeout of " + conn.session + ", will published");
            close(conn, true);
        }
    }
}

void world::maybe_duplicate(bool faults) {
    if (!faults || !rng_.chance(4)) return;
    if (config_.plugin) {
        // One broker, one subscriber session: a QoS 1 duplicate only arises when the controller's
        // connection blips and the broker resends its unacknowledged suffix, in order, before
        // anything newer. (The per-connection model below would let a lifecycle event's copy
        // overtake later messages, which no broker does.)
        std::vector<message> recent;
        for (const auto& msg : recent_delivered_) {
            if (now_ - msg.deliver_at <= config_.max_dup_delay) recent.push_back(msg);
        }
        if (recent.empty() || !replay_.empty()) return;
        const auto k =
            static_cast<std::size_t>(rng_.between(1, static_cast<std::int64_t>(recent.size())));
        replay_.assign(recent.end() - static_cast<std::ptrdiff_t>(k), recent.end());
        // A resend is the same messages again, not new ones: Mosquitto keeps one entry per
        // unacknowledged QoS 1 message in the session's ordered inflight list and resends each
        // once, in that order, on every resume. So the log holds each message once: the resent
        // ones leave its tail here and deliver() puts them back there, freshly delivered. Two
        // entries would let a crash replay an old message after a newer one it preceded (seed
        // 63669: a sign-out lost to a restored engine that no longer knew the session ended).
        recent_delivered_.erase(recent_delivered_.end() - static_cast<std::ptrdiff_t>(k),
                                recent_delivered_.end());
        stats_.duplicates += k;
        trace("broker: QoS 1 redelivery of the controller's last " + std::to_string(k) +
              " message(s)");
        return;
    }
    std::vector<std::size_t> candidates;
    for (std::size_t i = 0; i < connections_.size(); ++i) {
        const auto& conn = connections_[i];
        if (conn.open && !conn.delivered.empty() &&
            now_ - conn.delivered.back().deliver_at <= config_.max_dup_delay) {
            candidates.push_back(i);
        }
    }
    if (candidates.empty()) return;
    auto& conn = connections_[candidates[rng_.index(candidates.size())]];
    const auto recent = std::count_if(
        conn.delivered.begin(), conn.delivered.end(),
        [&](const message& m) { return now_ - m.deliver_at <= config_.max_dup_delay; });
    const auto k = static_cast<std::size_t>(rng_.between(1, recent));
    const auto at = now_ + ms(rng_.between(0, config_.max_dup_delay.count()));
    std::vector<message> copies(conn.delivered.end() - static_cast<std::ptrdiff_t>(k),
                                conn.delivered.end());
    for (auto it = copies.rbegin(); it != copies.rend(); ++it) {
        it->duplicate = true;
        it->seq = next_seq_++;
        it->deliver_at = at;
        conn.pending.push_front(*it);
        ++stats_.duplicates;
    }
    for (auto& msg : conn.pending) msg.deliver_at = std::max(msg.deliver_at, at);
    auto& dev = devices_[conn.device];
    dev.last_deliver_at = std::max(dev.last_deliver_at, conn.pending.back().deliver_at);
    trace("broker: QoS 1 redelivery of the last " + std::to_string(k) + " message(s) of " +
          conn.session);
}

bool world::queues_empty() const {
    if (!replay_.empty() || !plugin_.pending.empty()) return false;
    return std::all_of(connections_.begin(), connections_.end(),
                       [](const connection& c) { return c.pending.empty(); });
}

std::string world::device_text(const core::device_key& key) const {
    const auto user = host_->engine().user(key.user_id);
    if (!user) return " [no user]";
    for (const auto& d : user->devices) {
        if (d.device_id != key.device_id) continue;
        std::string text = std::string(" [") +
                           (d.state == core::device_state::live ? "live " : "reconnecting ") +
                           d.session_id + " #" + std::to_string(d.connection_seq) + " ended:";
        for (const auto& e : d.ended_session_ids) text += " " + e;
        return text + "]";
    }
    return " [no device]";
}

void world::deliver(const message& msg) {
    wire::inbound in;
    if (auto ec = wire::decode_inbound(msg.topic, msg.payload, in)) {
        throw std::runtime_error("codec rejected a valid message on " + msg.topic + ": " +
                                 ec.message());
    }
    const char* dup = msg.duplicate ? " (dup)" : "";
    unstored_.push_back(msg);
    if ((config_.fault == injected_fault::drop_will && in.kind == inbound_kind::will) ||
        (config_.fault == injected_fault::drop_close &&
         in.kind == inbound_kind::lifecycle_disconnected) ||
        (config_.fault == injected_fault::drop_reassert && msg.reassert)) {
        trace("  deliver " + msg.topic + " " + msg.session + dup + " -> INJECTED: ignored");
    } else {
        trace("  deliver " + msg.topic + " " + msg.session + dup);
        host_->on_message({msg.topic, msg.payload, std::nullopt, {}}, now_,
                          [](host::publish&&) {});  // no queries in the simulation
        trace_notes();
        if (config_.verbose && !in.device.device_id.empty()) trace("   " + device_text(in.device));
    }
    recent_delivered_.push_back(msg);
    recent_delivered_.back().deliver_at = now_;
    recent_delivered_.back().duplicate = true;
    while (now_ - recent_delivered_.front().deliver_at > config_.ack_window) {
        recent_delivered_.pop_front();
    }
    if (!msg.duplicate) {
        auto& conn = msg.connection == plugin_connection ? plugin_ : connections_[msg.connection];
        conn.delivered.push_back(msg);
        conn.delivered.back().deliver_at = now_;
        while (conn.delivered.size() > 3) conn.delivered.pop_front();
    }
}

void world::deliver_due() {
    if (broker_down_) return;  // the controller's connection is down with the broker
    for (const auto& msg : replay_) deliver(msg);
    replay_.clear();
    for (;;) {
        connection* best = nullptr;
        auto consider = [&](connection& conn) {
            if (conn.pending.empty() || conn.pending.front().deliver_at > now_) return;
            const auto& head = conn.pending.front();
            if (best == nullptr ||
                std::pair(head.deliver_at, head.seq) <
                    std::pair(best->pending.front().deliver_at, best->pending.front().seq)) {
                best = &conn;
            }
        };
        for (auto& conn : connections_) consider(conn);
        consider(plugin_);
        if (best == nullptr) return;
        const message msg = std::move(best->pending.front());
        best->pending.pop_front();
        best->last_deliver_at = msg.deliver_at;
        deliver(msg);
    }
}

void world::controller_work(bool faults) {
    if (!host_) {
        if (now_ < down_until_) return;
        restart();  // its republishes are one drain; then it runs as usual
    }
    if (faults && now_ - last_restart_ >= config_.min_restart_gap && rng_.chance(2)) {
        // kill -9: during a drain (after any prefix of its publishes reached the broker's
        // retained store) or between drains; a coalesced snapshot held back is lost either way.
        std::string how;
        if (rng_.chance(50) && config_.crash_redelivery) {
            deliver_due();
            std::vector<host::publish> drained;
            host_->advance(now_, [&](host::publish&& p) { drained.push_back(std::move(p)); });
            const auto k = static_cast<std::size_t>(
                rng_.between(0, static_cast<std::int64_t>(drained.size())));
            store(drained, k);
            effects_published_ = true;
            how = " after " + std::to_string(k) + " of its last drain's " +
                  std::to_string(drained.size()) + " publishes";
        }
        // The unacknowledged messages in broker order: the recent deliveries, then a resend the
        // controller had not received yet (replay_, already out of the log; see maybe_duplicate).
        // Inputs acknowledged but never acted on are gone (lose_after_ack).
        const auto lost = lose_after_ack();
        std::vector<message> unacked;
        for (const auto& msg : recent_delivered_) {
            if (config_.crash_redelivery && now_ - msg.deliver_at <= config_.ack_window &&
                !lost.contains(msg.seq)) {
                unacked.push_back(msg);
            }
        }
        replay_.insert(replay_.begin(), unacked.begin(), unacked.end());
        stats_.duplicates += unacked.size();
        recent_delivered_.clear();
        unstored_.clear();
        if (!lost.empty()) how += "; " + std::to_string(lost.size()) + " acked input(s) lost";
        host_.reset();
        down_until_ = now_ + ms(rng_.between(300, config_.max_downtime.count()));
        last_restart_ = now_;
        ++stats_.restarts;
        trace("controller crashes" + how + "; " + std::to_string(replay_.size()) +
              " unacked message(s) will be redelivered");
        return;
    }
    deliver_due();
    publish_effects();
}

host::config world::host_config() const {
    return host::config{.grace = config_.grace,
                        .snapshot_interval = config_.snapshot_interval,
                        .coalesce_above = config_.coalesce_above,
                        .info_notes = config_.verbose};
}

void world::trace_notes() {
    for (const auto& n : host_->take_notes()) trace("   " + n.text);
}

// The broker's retained store takes the first `count` publishes, in order.
void world::store(const std::vector<host::publish>& publishes, std::size_t count) {
    drain_starts_.push_back(last_published_.size());
    for (std::size_t i = 0; i < count; ++i) {
        const auto& pub = publishes[i].message;
        last_published_.push_back(pub);
        if (ends_with(pub.topic, "/events") || ends_with(pub.topic, "/events/json")) {
            core::party_event e;
            if (!ends_with(pub.topic, "/json") && !wire::decode(pub.payload, e)) {
                trace("  event " + e.party_id + " " + core::to_string(e.kind) + " " +
                      e.member.user_id + " rev " + std::to_string(e.revision));
            }
        }
        if (!pub.retained) continue;
        if (pub.payload.empty()) {
            retained_.erase(pub.topic);
        } else {
            retained_[pub.topic] = pub.payload;
        }
    }
}

// Whether the retained private record of the device's user (what a restart restores) lists the
// device in the party.
bool world::stored_member(std::size_t device, const std::string& party) const {
    const auto& key = devices_[device].key;
    const auto it = retained_.find(wire::controller_state_topic(key.user_id));
    core::user_record record;
    if (it == retained_.end() || wire::decode(it->second, record)) return false;
    for (const auto& m : record.memberships) {
        if (m.party_id == party && std::find(m.device_ids.begin(), m.device_ids.end(),
                                             key.device_id) != m.device_ids.end()) {
            return true;
        }
    }
    return false;
}

// Which inputs a crash may lose after the broker acknowledged them to the controller: only those
// the apps' re-assertion heals (clients/js/src/party.ts), in both modes.
// - join, leave: the app re-publishes its intent while the snapshot disagrees with it.
// - connect: only when a join of the same session still reaches the restarted controller (kept
//   for redelivery, or still queued), since a join with a new session connects first; and only
//   when the user's retained record already carries the connect's profile. The SDK re-publishes
//   neither a connect nor its profile, so a device in no party whose connect is lost is not
//   healed (without the plugin it is unknown, or live on its old session after a takeover with
//   no will: a ghost), and a lost profile stays lost until the device's next connect.
// - profile updates: never, for that reason (the SDK's setProfile() publishes once).
// - plugin mode only: lifecycle events, wills and the census itself. The connection census the
//   plugin publishes after every controller subscription (restart()) lists the connections the
//   broker holds, so a lost connected or disconnected event (or a will, which duplicates the
//   latter) heals at the restart that follows the loss; a lost census is replaced by the next
//   restart's.
// - never sign-outs (presence/disconnect) or the broker epoch (retained, sent again at every
//   subscription anyway); never wills without the plugin: a will or sign-out lost this way
//   leaves a ghost (a documented limit, docs/operations.md).
// `kept` holds the later inputs of the crash that will still reach the restarted controller.
bool world::may_lose_after_ack(const message& msg, const std::vector<const message*>& kept) const {
    switch (msg.kind) {
        case inbound_kind::join:
        case inbound_kind::leave:
            return true;
        case inbound_kind::connect: {
            auto joins = [&](const message& m) {
                return m.kind == inbound_kind::join && m.connection == msg.connection;
            };
            const auto& pending = connections_[msg.connection].pending;
            const auto queued = [&](const message& m) { return m.deliver_at > now_ && joins(m); };
            if (std::none_of(kept.begin(), kept.end(),
                             [&](const message* m) { return joins(*m); }) &&
                std::none_of(pending.begin(), pending.end(), queued)) {
                return false;
            }
            wire::inbound in;
            core::user_presence record;
            const auto it = retained_.find(wire::user_topic(devices_[msg.device].key.user_id));
            return !wire::decode_inbound(msg.topic, msg.payload, in) && it != retained_.end() &&
                   !wire::decode(it->second, record) && record.profile == in.profile;
        }
        case inbound_kind::will:
        case inbound_kind::lifecycle_connected:
        case inbound_kind::lifecycle_disconnected:
        case inbound_kind::broker_census:
            return config_.plugin;
        case inbound_kind::profile:
        case inbound_kind::disconnect:
        case inbound_kind::broker_epoch:
            return false;
    }
    return false;
}

// At a crash (before the host is dropped), in half the crashes: each input the controller got
// but whose effects were not stored is, if may_lose_after_ack() allows it, lost with 50 %. Those
// are the inputs applied since the last complete drain whose user's private record in the
// retained store is not the engine's, and the messages due now that Paho had received (and
// acknowledged) but not yet handed over. Decided newest first, so a connect knows which later
// joins are kept. Returns the lost inputs' sequence numbers.
std::set<std::uint64_t> world::lose_after_ack() {
    std::set<std::uint64_t> lost;
    if (!config_.lost_after_ack || !rng_.chance(50)) return lost;
    auto stored = [&](const message& msg) {
        const auto& user_id = devices_[msg.device].key.user_id;
        const auto record = host_->engine().record(user_id);
        const auto it = retained_.find(wire::controller_state_topic(user_id));
        if (!record) return it == retained_.end();
        return it != retained_.end() && it->second == wire::encode(*record);
    };
    std::vector<std::pair<const message*, bool>> candidates;  // the input, applied
    for (const auto& msg : unstored_) candidates.emplace_back(&msg, true);
    std::vector<const message*> due;
    for (const auto& conn : connections_) {
        for (const auto& msg : conn.pending) {
            if (msg.deliver_at <= now_) due.push_back(&msg);
        }
    }
    std::sort(due.begin(), due.end(), [](const message* a, const message* b) {
        return std::pair(a->deliver_at, a->seq) < std::pair(b->deliver_at, b->seq);
    });
    for (const auto* msg : due) candidates.emplace_back(msg, false);
    std::vector<const message*> kept;
    for (auto it = candidates.rbegin(); it != candidates.rend(); ++it) {
        const auto& [msg, applied] = *it;
        if (!may_lose_after_ack(*msg, kept) || (applied && stored(*msg)) || !rng_.chance(50)) {
            kept.push_back(msg);
            continue;
        }
        lost.insert(msg->seq);
        ++stats_.lost_after_ack;
        trace(std::string("  acked and lost (") +
              (applied ? "applied, effects not stored" : "received, not yet applied") +
              "): " + msg->topic + " " + msg->session + (msg->duplicate ? " (dup)" : ""));
        if (msg->kind == inbound_kind::join) truth_[{msg->device, msg->party}].lost_at = now_;
        if (msg->kind == inbound_kind::leave) {
            // A leave the app has since superseded with a join needs no healing.
            auto& t = truth_[{msg->device, msg->party}];
            // Nor does one the restarted controller will not list anyway: a duplicate of a leave
            // already stored, or a leave of a party the device was not in (its private record,
            // which the restart restores, does not name the membership).
            if (!devices_[msg->device].desired.contains(msg->party) &&
                stored_member(msg->device, msg->party)) {
                t.leave_lost_at = now_;
            }
            t.leave_lost_live = now_;
        }
    }
    // The broker counts them delivered: no later QoS 1 duplicate of them either.
    for (auto& conn : connections_) {
        std::erase_if(conn.pending, [&](const message& m) { return lost.contains(m.seq); });
        std::erase_if(conn.delivered, [&](const message& m) { return lost.contains(m.seq); });
    }
    return lost;
}

void world::restart() {
    unstored_.clear();
    host_.emplace(host_config());
    std::vector<host::retained_message> retained;
    for (const auto& [topic, payload] : retained_) retained.push_back({topic, payload});
    std::vector<host::publish> republished;
    const auto report = host_->restore(
        retained, now_, [&](host::publish&& p) { republished.push_back(std::move(p)); });
    store(republished, republished.size());
    effects_published_ = true;
    trace_notes();
    last_restart_ = now_;
    trace("controller restarts: restored " + std::to_string(report.records) + " record(s), " +
          std::to_string(report.parties) + " snapshot(s); republished " +
          std::to_string(report.republished));
    if (config_.plugin) {
        // Resubscribing returns the retained broker epoch, after the messages the broker queued
        // for the controller's session while it was down.
        message msg;
        msg.kind = inbound_kind::broker_epoch;
        msg.session = "retained epoch " + std::to_string(epoch_);
        msg.topic = std::string(wire::broker_epoch_topic);
        msg.payload = wire::encode_broker_epoch(epoch_, epoch_started_);
        enqueue_plugin(std::move(msg));
        if (!broker_down_ && config_.census) enqueue_plugin(census());
    }
}

// The plugin's answer to the controller's census subscription: every connection the broker holds
// in this run, taken now and delivered on the plugin's ordered stream after what it queued.
message world::census() const {
    std::vector<core::census_entry> open;
    for (const auto& conn : connections_) {
        if (conn.open && conn.epoch == epoch_) {
            open.push_back({devices_[conn.device].key, conn.seq});
        }
    }
    message msg;
    msg.kind = inbound_kind::broker_census;
    msg.session = "census of " + std::to_string(open.size()) + " open connection(s)";
    msg.topic = std::string(wire::broker_census_topic);
    msg.payload = wire::encode_census(epoch_, next_conn_seq_, open, epoch_started_);
    return msg;
}

void world::publish_effects() {
    std::vector<host::publish> drained;
    host_->advance(now_, [&](host::publish&& p) { drained.push_back(std::move(p)); });
    store(drained, drained.size());
    effects_published_ = true;
    unstored_.clear();
    trace_notes();
    stats_.max_members = std::max(stats_.max_members, host_->engine().stats().members);
}

void world::converge(const std::function<void()>& after_step) {
    trace("faults stop; converging");
    const auto deadline = now_ + 10min;
    auto settled = [this] {
        if (!host_ || broker_down_ || !queues_empty() || host_->pending_snapshots() > 0 ||
            !apps_confirmed()) {
            return false;
        }
        return std::none_of(connections_.begin(), connections_.end(),
                            [](const connection& c) { return c.open && !c.network_up; });
    };
    while (!settled()) {
        if (now_ > deadline) throw std::runtime_error("the world did not settle");
        step(false);
        after_step();
    }
    now_ += config_.grace + 1s;
    step(false);
    after_step();
    for (auto& dev : devices_) {
        if (dev.state != app_state::online || !connections_[*dev.conn].carries_truth()) continue;
        const bool first = std::none_of(devices_.begin(), devices_.end(), [&](const device& d) {
            return d.user == dev.user && &d < &dev && d.state == app_state::online &&
                   connections_[*d.conn].carries_truth();
        });
        if (first) publish(dev, inbound_kind::profile);
    }
    while (!settled()) {
        if (now_ > deadline) throw std::runtime_error("the world did not settle");
        step(false);
        after_step();
    }
}

}  // namespace presence::sim
