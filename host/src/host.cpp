#include "presence/host/host.hpp"

#include <set>
#include <utility>
#include <variant>

#include "presence/host/query.hpp"

namespace presence::host {

namespace {

std::string session_part(std::string_view session_id) {
    return session_id.empty() ? std::string() : " session=" + std::string(session_id);
}

std::string current_session(const core::engine& engine, const core::device_key& device) {
    if (const auto user = engine.user(device.user_id)) {
        for (const auto& d : user->devices) {
            if (d.device_id == device.device_id)
                return d.session_id.empty() ? "none" : d.session_id;
        }
    }
    return "none";
}

}  // namespace

host::host(const config& cfg)
    : cfg_(cfg),
      coalescer_(cfg.snapshot_interval, cfg.coalesce_above),
      engine_(core::engine_config{
          .grace = cfg.grace,
          .defer_snapshots = true,
          .want_snapshot = [this](std::string_view party_id, std::size_t members) {
              return coalescer_.offer(party_id, members, now_);
          }}) {}

void host::on_message(const message& msg, core::time_point now, const sink& out) {
    now_ = now;
    tick_if_due(now);
    if (is_query_topic(msg.topic)) {
        handle_query(msg, out);
        return;
    }
    handle_input(msg, now);
}

void host::on_connection_lost() { ++counters_.connection_lost; }

void host::handle_input(const message& msg, core::time_point now) {
    wire::inbound in;
    const auto ec =
        wire::decode_inbound(msg.topic, msg.payload, in, wire::limits{cfg_.max_payload_bytes});
    if (ec) {
        const auto e = static_cast<wire::error>(ec.value());
        counters_.count(e);
        add_note(note::kind::rejected, "rejected topic=" + std::string(msg.topic) +
                                           " reason=" + wire::to_string(e) + ": " + ec.message());
        return;
    }
    const auto outcome = wire::apply(engine_, in, now);
    counters_.count(in.kind, outcome);
    if (outcome == core::outcome::applied) dirty_ = true;
    // A stale event of an older run can still retire its epoch: that is durable state too.
    if (engine_.broker_state() != broker_published_) dirty_ = true;
    decision_note(in, outcome);
    for (const auto& change : engine_.take_reconciliations()) {
        republish_all_ = true;
        ++counters_.broker_epoch_changes;
        counters_.reconciled_devices += change.devices;
        add_note(note::kind::info, "broker epoch changed from " +
                                       std::to_string(change.from_epoch) + " to " +
                                       std::to_string(change.to_epoch) + ": " +
                                       std::to_string(change.devices) + " devices reconnecting");
    }
}

// Answers from the engine's current state (every input received before it included); the reply
// goes out at once, ahead of effects not yet drained.
void host::handle_query(const message& msg, const sink& out) {
    auto a =
        answer_query(engine_, {msg.topic, msg.payload, msg.response_topic, cfg_.max_payload_bytes});
    counters_.count(a);
    if (a.drop != query_drop::none) {
        add_note(note::kind::query_dropped,
                 "query dropped topic=" + std::string(msg.topic) + " reason=" + to_string(a.drop) +
                     (msg.response_topic ? " response_topic=" + std::string(*msg.response_topic)
                                         : std::string()));
        return;
    }
    if (want(note::kind::debug)) {
        const auto kind = a.kind ? static_cast<std::size_t>(*a.kind) : wire::query_kind_count;
        add_note(note::kind::debug,
                 std::string("query ") + query_kind_name(kind) + " user=" + a.requester.user_id +
                     " device=" + a.requester.device_id + " -> " + wire::to_string(a.status) +
                     (a.error.empty() ? std::string() : ": " + a.error));
    }
    out(publish{std::move(a.reply), 1, std::string(msg.correlation_data), true});
}

void host::tick_if_due(core::time_point now) {
    if (const auto deadline = engine_.next_deadline(); deadline && *deadline <= now) {
        engine_.tick(now);
        dirty_ = true;
    }
}

void host::advance(core::time_point now, const sink& out) {
    now_ = now;
    tick_if_due(now);
    drained_parties_.clear();
    drained_users_.clear();
    drain(out);
    for (const auto& party_id : coalescer_.due(now)) {
        if (!engine_.member_count(party_id)) continue;  // emptied since: its clear went out
        emit_snapshot_of(party_id, out);
        drained_parties_.insert(party_id);
        ++counters_.coalesced_snapshots;
    }
    if (republish_all_) republish_all(out);
}

void host::republish_all(const sink& out) {
    republish_all_ = false;
    const sink counted = [&](publish&& p) {
        ++counters_.epoch_republished;
        out(std::move(p));
    };
    emit_broker_record_if_changed(counted);
    for (const auto& user_id : engine_.user_ids()) {
        if (!drained_users_.contains(user_id)) emit_record(user_id, counted);
    }
    for (const auto& party_id : engine_.party_ids()) {
        if (drained_parties_.contains(party_id) || coalescer_.is_pending(party_id)) continue;
        emit_snapshot_of(party_id, counted);
    }
    for (const auto& user_id : engine_.user_ids()) {
        if (drained_users_.contains(user_id)) continue;
        if (auto user = engine_.user(user_id)) emit(core::publish_user{std::move(*user)}, counted);
    }
    add_note(note::kind::info, "new broker epoch: republished " +
                                   std::to_string(counters_.epoch_republished) +
                                   " messages so far");
}

void host::finish(const sink& out) {
    drain(out);
    for (const auto& party_id : coalescer_.take_all()) {
        if (engine_.member_count(party_id) == 0) continue;
        emit_snapshot_of(party_id, out);
        ++counters_.coalesced_snapshots;
    }
}

// The durable records go first: a crash after any prefix of this drain then leaves the broker
// with private state at least as new as any public message it holds, so a restart never forgets
// what apps were already shown.
void host::drain(const sink& out) {
    dirty_ = false;
    // The broker-run record goes before everything: the user records of this drain may already
    // reflect a new epoch, and a restart must not judge the old run's late events as current.
    emit_broker_record_if_changed(out);
    const auto effects = engine_.take_effects();
    for (const auto& effect : effects) {
        if (const auto* u = std::get_if<core::publish_user>(&effect)) {
            emit_record(u->user.user_id, out);
            drained_users_.insert(u->user.user_id);
        } else if (const auto* s = std::get_if<core::publish_snapshot>(&effect)) {
            drained_parties_.insert(s->snapshot.party_id);
        } else if (const auto* c = std::get_if<core::clear_snapshot>(&effect)) {
            drained_parties_.insert(c->party_id);
        }
    }
    for (const auto& effect : effects) emit(effect, out);
}

void host::emit(const core::effect& effect, const sink& out) {
    if (const auto* e = std::get_if<core::publish_event>(&effect)) {
        const auto& ev = e->event;
        counters_.count(ev);
        if (ev.kind == core::event_kind::left && ev.reason == core::leave_reason::timeout) {
            ++counters_.grace_expiries;
            add_note(note::kind::info, "expired party=" + ev.party_id +
                                           " user=" + ev.member.user_id +
                                           " rev=" + std::to_string(ev.revision));
        } else if (want(note::kind::debug)) {
            add_note(note::kind::debug,
                     "event party=" + ev.party_id + " rev=" + std::to_string(ev.revision) + " " +
                         core::to_string(ev.kind) + " user=" + ev.member.user_id +
                         (ev.kind == core::event_kind::left
                              ? std::string(" reason=") + core::to_string(ev.reason)
                              : std::string()));
        }
    } else if (const auto* c = std::get_if<core::clear_snapshot>(&effect)) {
        coalescer_.cleared(c->party_id);
    }
    rendered_.clear();
    wire::render(effect, rendered_, {.json_twins = cfg_.json_twins});
    for (auto& o : rendered_) out(publish{std::move(o), cfg_.output_qos, {}, false});
}

void host::emit_record(std::string_view user_id, const sink& out) {
    wire::outbound o{wire::controller_state_topic(user_id), {}, true};
    if (const auto record = engine_.record(user_id)) o.payload = wire::encode(*record);
    out(publish{std::move(o), 1, {}, false});
}

bool host::emit_broker_record_if_changed(const sink& out) {
    auto record = engine_.broker_state();
    if (broker_published_ && record == *broker_published_) return false;
    out(publish{{std::string(wire::controller_broker_state_topic), wire::encode(record), true},
                1,
                {},
                false});
    broker_published_ = std::move(record);
    return true;
}

void host::emit_snapshot_of(std::string_view party_id, const sink& out) {
    auto snapshot = engine_.snapshot(party_id);
    if (!snapshot) return;
    emit(core::publish_snapshot{std::move(*snapshot)}, out);
}

std::optional<core::time_point> host::next_wakeup() const {
    auto wake = engine_.next_deadline();
    if (const auto due = coalescer_.next_due(); due && (!wake || *due < *wake)) wake = due;
    return wake;
}

bool host::snapshot_pending(std::string_view party_id) const {
    return coalescer_.is_pending(party_id);
}

std::vector<note> host::take_notes() { return std::exchange(notes_, {}); }

bool host::want(note::kind level) const {
    switch (level) {
        case note::kind::debug:
            return cfg_.debug_notes;
        case note::kind::info:
            return cfg_.info_notes;
        default:
            return true;
    }
}

void host::add_note(note::kind level, std::string text) {
    if (want(level)) notes_.push_back({level, std::move(text)});
}

void host::decision_note(const wire::inbound& in, core::outcome outcome) {
    if (!cfg_.info_notes) return;
    std::string text;
    if (in.kind == wire::inbound_kind::broker_epoch) {
        text = "broker_epoch epoch=" + std::to_string(in.broker_epoch) + " -> " +
               core::to_string(outcome);
    } else if (in.kind == wire::inbound_kind::broker_census) {
        text = "broker_census epoch=" + std::to_string(in.broker_epoch) +
               " last_seq=" + std::to_string(in.connection_seq) +
               " open=" + std::to_string(in.census.size()) + " -> " + core::to_string(outcome);
    } else if (in.kind == wire::inbound_kind::lifecycle_connected ||
               in.kind == wire::inbound_kind::lifecycle_disconnected) {
        text = std::string(wire::to_string(in.kind)) + " user=" + in.device.user_id +
               " device=" + in.device.device_id + " epoch=" + std::to_string(in.broker_epoch) +
               " seq=" + std::to_string(in.connection_seq) +
               (in.kind == wire::inbound_kind::lifecycle_disconnected
                    ? std::string(" end=") + core::to_string(in.end)
                    : std::string()) +
               " -> " + core::to_string(outcome);
    } else {
        const std::string party = in.party_id.empty() ? std::string() : " party=" + in.party_id;
        text = std::string(wire::to_string(in.kind)) + party + " user=" + in.device.user_id +
               " device=" + in.device.device_id + session_part(in.session_id) + " -> " +
               core::to_string(outcome);
        if (outcome == core::outcome::stale) {
            text += " (current " + current_session(engine_, in.device) + ")";
        }
    }
    notes_.push_back({note::kind::info, std::move(text)});
}

}  // namespace presence::host
