#include "presence/core/engine.hpp"

#include <algorithm>
#include <utility>

#include "assert.hpp"
#include "state.hpp"

namespace presence::core {

engine::engine(engine_config config) : state_(std::make_unique<state>(config)) {}
engine::~engine() = default;
engine::engine(engine&&) noexcept = default;
engine& engine::operator=(engine&&) noexcept = default;

outcome engine::on_connect(const device_key& device, std::string_view session_id,
                           const core::profile& prof, time_point now) {
    return state_->on_connect(device, session_id, prof, now);
}

outcome engine::on_will(const device_key& device, std::string_view session_id, time_point now) {
    return state_->on_will(device, session_id, now);
}

outcome engine::on_disconnect(const device_key& device, std::string_view session_id,
                              time_point now) {
    return state_->on_disconnect(device, session_id, now);
}

outcome engine::on_join(std::string_view party_id, const device_key& device,
                        std::string_view session_id, time_point now) {
    return state_->on_join(party_id, device, session_id, now);
}

outcome engine::on_leave(std::string_view party_id, const device_key& device,
                         std::string_view session_id, time_point now) {
    return state_->on_leave(party_id, device, session_id, now);
}

outcome engine::on_profile(const device_key& device, const core::profile& prof, time_point now) {
    return state_->on_profile(device, prof, now);
}

outcome engine::on_connection_opened(const device_key& device, std::uint64_t epoch,
                                     std::uint64_t seq, time_point now, time_point broker_time) {
    return state_->on_connection_opened(device, epoch, seq, now, broker_time);
}

outcome engine::on_connection_closed(const device_key& device, std::uint64_t epoch,
                                     std::uint64_t seq, connection_end /*end*/, time_point now,
                                     time_point broker_time) {
    return state_->on_connection_closed(device, epoch, seq, now, broker_time);
}

outcome engine::on_broker_epoch(std::uint64_t epoch, time_point now, time_point started_at) {
    return state_->on_broker_epoch(epoch, now, started_at);
}

outcome engine::on_census(std::uint64_t epoch, std::uint64_t last_seq,
                          const std::vector<census_entry>& open, time_point now,
                          time_point started_at) {
    return state_->on_census(epoch, last_seq, open, now, started_at);
}

std::uint64_t engine::broker_epoch() const { return state_->broker_epoch_; }

broker_record engine::broker_state() const {
    const auto& st = *state_;
    return {st.broker_epoch_, st.epoch_since_, {st.retired_.begin(), st.retired_.end()}};
}

void engine::restore(const broker_record& record) {
    auto& st = *state_;
    st.broker_epoch_ = record.epoch;
    st.epoch_since_ = record.started_at;
    st.epoch_reconciled_ = false;
    st.retired_.clear();
    for (const auto epoch : record.retired) {
        if (epoch != 0 && epoch != record.epoch) st.retire(epoch);
    }
}

std::vector<reconciliation> engine::take_reconciliations() {
    return std::exchange(state_->reconciliations_, {});
}

void engine::tick(time_point now) { state_->tick(now); }

std::optional<time_point> engine::next_deadline() const {
    if (state_->timers_.empty()) return std::nullopt;
    return state_->timers_.begin()->first.first;
}

void engine::restore(const user_presence& user) { state_->restore(user); }

void engine::restore(const party_snapshot& snapshot) { state_->restore(snapshot); }

void engine::restore(const user_record& record) { state_->restore(record); }

void engine::restore_party(std::string_view party_id, std::uint64_t revision,
                           time_point updated_at) {
    state_->restore_party(party_id, revision, updated_at);
}

std::size_t engine::seed_revisions(time_point now, bool every_party) {
    return state_->seed_revisions(now, every_party);
}

void engine::bump_revision(std::string_view party_id) { state_->bump_revision(party_id); }

std::optional<user_record> engine::record(std::string_view user_id) const {
    return state_->record(user_id);
}

std::size_t engine::reconcile_restored(const user_presence& user) {
    return state_->reconcile_restored(user);
}

std::vector<effect> engine::take_effects() { return state_->take_effects(); }

std::optional<party_snapshot> engine::snapshot(std::string_view party_id) const {
    auto party = state_->parties_.find(party_id);
    if (party == state_->parties_.end()) return std::nullopt;
    return state_->view_of(party_id, party->second);
}

std::optional<user_presence> engine::user(std::string_view user_id) const {
    auto user = state_->users_.find(user_id);
    if (user == state_->users_.end()) return std::nullopt;
    return state_->view_of(user_id, user->second);
}

std::vector<std::string> engine::party_ids() const {
    std::vector<std::string> ids;
    ids.reserve(state_->parties_.size());
    for (const auto& [party_id, party] : state_->parties_) ids.push_back(party_id);
    return ids;
}

std::size_t engine::member_count(std::string_view party_id) const {
    const auto party = state_->parties_.find(party_id);
    return party == state_->parties_.end() ? 0 : party->second.members.size();
}

engine_stats engine::stats() const {
    engine_stats stats;
    stats.parties = state_->parties_.size();
    stats.users = state_->users_.size();
    for (const auto& [party_id, party] : state_->parties_) {
        stats.members += party.members.size();
        for (const auto& [user_id, member] : party.members) {
            const auto& devices = state_->users_.find(user_id)->second.devices;
            const bool live = std::any_of(member.devices.begin(), member.devices.end(),
                                          [&](const std::string& device_id) {
                                              return devices.find(device_id)->second.live();
                                          });
            if (!live) ++stats.reconnecting_members;
        }
    }
    for (const auto& [user_id, user] : state_->users_) {
        stats.devices += user.devices.size();
        for (const auto& [device_id, dev] : user.devices) {
            if (dev.live()) ++stats.live_devices;
        }
    }
    return stats;
}

}  // namespace presence::core
