// Broker lifecycle inputs: connection opened and closed events and the broker epoch, as the
// mosquitto_presence plugin reports them. The rules are in engine.hpp.
#include <algorithm>
#include <set>
#include <utility>
#include <vector>

#include "assert.hpp"
#include "state.hpp"

namespace presence::core {

using detail::device_rec;

bool engine::state::is_retired(std::uint64_t epoch) const {
    return std::find(retired_.begin(), retired_.end(), epoch) != retired_.end();
}

void engine::state::retire(std::uint64_t epoch) {
    if (config_.retired_epochs_kept == 0 || is_retired(epoch)) return;
    retired_.push_back(epoch);
    while (retired_.size() > config_.retired_epochs_kept) retired_.pop_front();
}

// The lifecycle table of engine.hpp, first half: what an input of `epoch` (nonzero) is, given the
// broker runs the engine knows. `announced` is true for the broker's own epoch message.
engine::state::epoch_verdict engine::state::judge_epoch(std::uint64_t epoch, time_point broker_time,
                                                        bool announced) const {
    if (is_retired(epoch)) return epoch_verdict::retired;
    if (epoch == broker_epoch_) return epoch_verdict::current;
    const bool timed = broker_time != time_point{};
    if (broker_epoch_ != 0 && timed && epoch_since_ != time_point{} && broker_time < epoch_since_) {
        return epoch_verdict::older_run;
    }
    if (broker_epoch_ == 0 && !announced) return epoch_verdict::first_seen;
    return epoch_verdict::newer_run;
}

// The second half: acts on the verdict; true when the input may proceed. A first_seen epoch is
// tentative: right after a restart a lifecycle event may be a redelivery of an older run, and
// reconciling on it would send the newer run's devices reconnecting. The epoch message, which
// always follows on (re)subscription, confirms the run and reconciles then.
bool engine::state::admit_epoch(std::uint64_t epoch, time_point broker_time, bool announced,
                                time_point now) {
    switch (judge_epoch(epoch, broker_time, announced)) {
        case epoch_verdict::retired:
            return false;
        case epoch_verdict::older_run:
            retire(epoch);
            return false;
        case epoch_verdict::current:
            if (broker_time != time_point{} &&
                (epoch_since_ == time_point{} || broker_time < epoch_since_)) {
                epoch_since_ = broker_time;
            }
            if (announced && !epoch_reconciled_) {
                reconcile(0, now, /*first=*/true, /*confirming=*/true);
            }
            return true;
        case epoch_verdict::first_seen:
            broker_epoch_ = epoch;
            epoch_since_ = broker_time;
            epoch_reconciled_ = false;
            return true;
        case epoch_verdict::newer_run:
            adopt_epoch(epoch, broker_time, now);
            return true;
    }
    return false;
}

// Makes a new `epoch` current and reconciles.
void engine::state::adopt_epoch(std::uint64_t epoch, time_point broker_time, time_point now) {
    PRESENCE_ASSERT(epoch != 0 && epoch != broker_epoch_, "only a new epoch is adopted");
    const auto from = epoch_reconciled_ ? broker_epoch_ : 0;
    if (broker_epoch_ != 0) retire(broker_epoch_);
    broker_epoch_ = epoch;
    epoch_since_ = broker_time;
    reconcile(from, now, /*first=*/!epoch_reconciled_, /*confirming=*/false);
}

// Sends every live device that was not seen on the current broker run reconnecting: its
// connection cannot have survived the broker restart. Two kinds of live device are left to the
// connection census that follows every controller subscription instead, because their connection
// may be on this very run (the queue a broker delivers before the retained epoch that answers a
// subscription can hold the run's traffic, and an opened event may have been acknowledged and
// lost with a killed controller), and ending their session here would make their later joins
// stale for good: at the `first` reconciliation since the engine started or was restored, a
// device whose session is unplaced (named after its recorded connection ended); when that first
// one is `confirming` the run the engine already held, also a device seen on no run at all. A
// later epoch change arrives live, ahead of its run's traffic, so it ends them like the rest.
void engine::state::reconcile(std::uint64_t from_epoch, time_point now, bool first,
                              bool confirming) {
    reconciliation change{from_epoch, broker_epoch_, 0};
    for (auto& [user_id, user] : users_) {
        for (auto& [device_id, dev] : user.devices) {
            if (!dev.live() || dev.connection.epoch == broker_epoch_) continue;
            if (first && dev.session_unplaced) continue;
            if (confirming && dev.connection.epoch == 0) continue;
            lose({user_id, device_id}, dev, now);
            ++change.devices;
        }
    }
    epoch_reconciled_ = true;
    reconciliations_.push_back(change);
}

outcome engine::state::open_connection(const device_key& key, std::uint64_t epoch,
                                       std::uint64_t seq, time_point now) {
    auto* dev = find_device(key);
    if (dev == nullptr) {
        if (forgotten_connections_.covers(key, epoch, seq)) return outcome::stale;
        dev = &connect_device(key, {}, now);
        dev->connection.epoch = epoch;
        dev->connection.seq = seq;
        dev->session_unplaced = false;
        return outcome::applied;
    }
    if (dev->connection.epoch == epoch) {
        if (seq < dev->connection.seq) return outcome::stale;
        if (seq == dev->connection.seq) {
            // Reconnecting on the very connection recorded means that connection already ended.
            return dev->live() ? outcome::duplicate : outcome::stale;
        }
    }
    touch_device_parties(key, *dev);
    dev->connection.epoch = epoch;
    dev->connection.seq = seq;
    dev->session_unplaced = false;
    disarm(*dev);
    find_user(key.user_id)->last_seen = now;
    touch_user(key.user_id);
    return outcome::applied;
}

outcome engine::state::close_connection(const device_key& key, std::uint64_t epoch,
                                        std::uint64_t seq, time_point now) {
    auto* dev = find_device(key);
    if (dev == nullptr) {
        return forgotten_connections_.covers(key, epoch, seq) ? outcome::stale : outcome::unknown;
    }
    if (dev->connection.epoch == epoch && seq < dev->connection.seq) return outcome::stale;
    // The recorded connection had ended before the unplaced session began: a late repeat.
    if (dev->session_unplaced && dev->connection.epoch == epoch && dev->connection.seq == seq) {
        return outcome::duplicate;
    }
    if (!dev->live()) {
        if (dev->connection.epoch == epoch && dev->connection.seq == seq) return outcome::duplicate;
        // Already reconnecting (a will came first): record the newer connection so that a late
        // duplicate of its opened stays stale; the deadline stays.
        touch_device_parties(key, *dev);
        dev->connection.epoch = epoch;
        dev->connection.seq = seq;
        touch_user(key.user_id);
        return outcome::applied;
    }
    dev->connection.epoch = epoch;
    dev->connection.seq = seq;
    lose_connection(key, *dev, now);
    return outcome::applied;
}

outcome engine::state::on_connection_opened(const device_key& key, std::uint64_t epoch,
                                            std::uint64_t seq, time_point now,
                                            time_point broker_time) {
    if (epoch == 0) return outcome::unknown;
    begin(leave_reason::timeout);
    const auto result = admit_epoch(epoch, broker_time, false, now)
                            ? open_connection(key, epoch, seq, now)
                            : outcome::stale;
    flush(now);
    return result;
}

outcome engine::state::on_connection_closed(const device_key& key, std::uint64_t epoch,
                                            std::uint64_t seq, time_point now,
                                            time_point broker_time) {
    if (epoch == 0) return outcome::unknown;
    begin(leave_reason::timeout);
    const auto result = admit_epoch(epoch, broker_time, false, now)
                            ? close_connection(key, epoch, seq, now)
                            : outcome::stale;
    flush(now);
    return result;
}

outcome engine::state::on_broker_epoch(std::uint64_t epoch, time_point now, time_point started_at) {
    if (epoch == 0) return outcome::unknown;
    const bool known = epoch == broker_epoch_ && epoch_reconciled_;
    begin(leave_reason::timeout);
    const bool admitted = admit_epoch(epoch, started_at, true, now);
    flush(now);
    if (!admitted) return outcome::stale;
    return known ? outcome::duplicate : outcome::applied;
}

// The census is the broker's truth at one point of the ordered stream: an open connection it
// lists whose connected event was lost opens, a recorded one it does not list has ended.
outcome engine::state::on_census(std::uint64_t epoch, std::uint64_t last_seq,
                                 const std::vector<census_entry>& open, time_point now,
                                 time_point started_at) {
    if (epoch == 0) return outcome::unknown;
    const bool known = epoch == broker_epoch_ && epoch_reconciled_;
    begin(leave_reason::timeout);
    if (!admit_epoch(epoch, started_at, true, now)) {
        flush(now);
        return outcome::stale;
    }
    bool changed = !known;
    std::set<device_key> listed;
    for (const auto& entry : open) {
        if (entry.connection_seq == 0 || entry.connection_seq > last_seq) continue;
        listed.insert(entry.device);
        if (open_connection(entry.device, epoch, entry.connection_seq, now) == outcome::applied) {
            changed = true;
        }
    }
    std::vector<std::pair<device_key, std::uint64_t>> ended;
    for (const auto& [user_id, user] : users_) {
        for (const auto& [device_id, dev] : user.devices) {
            if (!dev.live()) continue;
            // Every live device is judged except one on a connection newer than the census. One
            // recorded on another run is live only through an unplaced session (the epoch
            // admitted above reconciled the rest), whose connection the census would list.
            const auto& c = dev.connection;
            const bool judged = c.epoch != epoch || c.seq <= last_seq;
            device_key key{user_id, device_id};
            if (judged && !listed.contains(key)) ended.emplace_back(std::move(key), c.seq);
        }
    }
    for (const auto& [key, seq] : ended) {
        auto* dev = find_device(key);
        if (dev == nullptr || !dev->live()) continue;
        if (dev->connection.epoch == 0) dev->connection = {epoch, seq};
        lose_connection(key, *dev, now);
        changed = true;
    }
    flush(now);
    return changed ? outcome::applied : outcome::duplicate;
}

}  // namespace presence::core
