// Restore: the engine rebuilt from what the broker retained, and the retained copies that differ
// from the rebuilt truth republished (docs/operations.md, restore).

#include <map>
#include <optional>
#include <set>

#include "presence/host/host.hpp"

namespace presence::host {

namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

template <class Value>
struct retained_value {
    Value value;
    std::string payload;
};

// What the broker held, decoded and sorted by key; malformed or misplaced messages are counted.
struct retained_view {
    std::map<std::string, retained_value<core::user_record>, std::less<>> records;
    std::map<std::string, retained_value<core::party_snapshot>, std::less<>> parties;
    std::map<std::string, retained_value<core::user_presence>, std::less<>> users;
    std::set<std::string, std::less<>> json_twins;              // topics of retained JSON twins
    std::optional<retained_value<core::broker_record>> broker;  // the broker-run record
    std::size_t rejected = 0;
};

retained_view decode_all(const std::vector<retained_message>& retained) {
    retained_view view;
    for (const auto& [topic, payload] : retained) {
        if (payload.empty()) continue;  // a cleared retained message carries nothing
        if (ends_with(topic, wire::json_suffix)) {
            view.json_twins.insert(topic);
            continue;
        }
        if (topic == wire::controller_broker_state_topic) {
            core::broker_record b;
            if (wire::decode(payload, b)) {
                ++view.rejected;
                continue;
            }
            view.broker = retained_value<core::broker_record>{std::move(b), payload};
        } else if (starts_with(topic, wire::controller_state_prefix)) {
            core::user_record r;
            if (wire::decode(payload, r) || wire::controller_state_topic(r.user_id) != topic) {
                ++view.rejected;
                continue;
            }
            const auto id = r.user_id;
            view.records.insert_or_assign(id,
                                          retained_value<core::user_record>{std::move(r), payload});
        } else if (starts_with(topic, "party/")) {
            core::party_snapshot s;
            if (wire::decode_legacy(payload, s) || wire::members_topic(s.party_id) != topic) {
                ++view.rejected;
                continue;
            }
            const auto id = s.party_id;
            view.parties.insert_or_assign(
                id, retained_value<core::party_snapshot>{std::move(s), payload});
        } else if (starts_with(topic, "presence/user/")) {
            core::user_presence u;
            if (wire::decode_legacy(payload, u) || wire::user_topic(u.user_id) != topic) {
                ++view.rejected;
                continue;
            }
            const auto id = u.user_id;
            view.users.insert_or_assign(id,
                                        retained_value<core::user_presence>{std::move(u), payload});
        }
    }
    return view;
}

// Whether the retained state was written by a protocol v1.0 controller: no private record of any
// kind. A v1.1 controller writes the broker-run record at its first restore (with or without the
// plugin), so once it exists an empty set of user records means every user was forgotten (signed
// out or expired), never an upgrade, and stale public user records a crash left behind are not
// revived.
bool is_upgrade(const retained_view& view) { return view.records.empty() && !view.broker; }

// The order and precedence of a restore (see host.hpp).
void apply_restore(core::engine& engine, const retained_view& view, core::time_point now,
                   bool coalescing) {
    // First the broker runs, so nothing restored or received later is judged against an engine
    // that forgot which run is current and which are retired.
    if (view.broker) engine.restore(view.broker->value);
    if (!is_upgrade(view)) {
        // The private records decide devices and memberships; snapshots only give revisions.
        for (const auto& [id, r] : view.records) engine.restore(r.value);
        for (const auto& [id, p] : view.parties) {
            engine.restore_party(id, p.value.revision, p.value.updated_at);
        }
    } else {
        // Upgrade from protocol v1.0: the public records still carry the private fields. User
        // records go out at once and are never coalesced, so they win for device state (restored
        // after the snapshots) and, when newer, for membership (reconcile_restored).
        for (const auto& [id, p] : view.parties) engine.restore(p.value);
        for (const auto& [id, u] : view.users) engine.restore(u.value);
        for (const auto& [id, u] : view.users) engine.reconcile_restored(u.value);
    }
    // A coalescing controller may have published events beyond its retained snapshots; parties
    // no snapshot named start where a new party would.
    engine.seed_revisions(now, coalescing);
}

restore_report report_of(const retained_view& view) {
    restore_report report;
    report.records = view.records.size();
    report.broker_record = view.broker.has_value();
    report.users = view.users.size();
    report.parties = view.parties.size();
    report.rejected = view.rejected;
    report.upgraded = is_upgrade(view);
    return report;
}

}  // namespace

restore_report restore_engine(core::engine& engine, const std::vector<retained_message>& retained,
                              core::time_point now, bool coalescing) {
    const auto view = decode_all(retained);
    apply_restore(engine, view, now, coalescing);
    return report_of(view);
}

restore_report host::restore(const std::vector<retained_message>& retained, core::time_point now,
                             const sink& out) {
    now_ = now;
    const auto view = decode_all(retained);
    auto report = report_of(view);
    apply_restore(engine_, view, now, coalescer_.enabled());
    if (view.broker) broker_published_ = engine_.broker_state();

    const sink counted = [&](publish&& p) {
        ++report.republished;
        out(std::move(p));
    };

    // The broker-run record, when what the engine made of it would not encode the same (a
    // record from a controller that kept more retired epochs, or with fields unknown here).
    // Without one (a first start, or an upgrade from v1.0) it is written now, so from here on a
    // restart always finds private state (is_upgrade).
    if (!view.broker || wire::encode(*broker_published_) != view.broker->payload) {
        broker_published_.reset();
        emit_broker_record_if_changed(counted);
    }

    // Public snapshots: republish those that differ, clear those of parties that are gone.
    const bool twins = cfg_.json_twins;
    for (const auto& party_id : engine_.party_ids()) {
        auto snapshot = engine_.snapshot(party_id);
        const auto it = view.parties.find(party_id);
        const bool twin_ok = !twins || view.json_twins.contains(wire::members_topic(party_id) +
                                                                std::string(wire::json_suffix));
        if (it != view.parties.end() && twin_ok && wire::encode(*snapshot) == it->second.payload) {
            continue;
        }
        if (it != view.parties.end() && snapshot->revision <= it->second.value.revision) {
            // Same revision, other content: a client holding it must see a new one.
            engine_.bump_revision(party_id);
            snapshot = engine_.snapshot(party_id);
        }
        emit(core::publish_snapshot{std::move(*snapshot)}, counted);
    }
    for (const auto& [party_id, p] : view.parties) {
        if (engine_.member_count(party_id) == 0) emit(core::clear_snapshot{party_id}, counted);
    }
    // A JSON twin outliving its cleared snapshot (a crash between the two clears).
    constexpr std::string_view members_suffix = "/members/json";
    for (const auto& topic : view.json_twins) {
        if (!starts_with(topic, "party/") || !ends_with(topic, members_suffix)) continue;
        const auto party_id =
            std::string_view(topic).substr(6, topic.size() - 6 - members_suffix.size());
        if (engine_.member_count(party_id) == 0 && !view.parties.contains(party_id)) {
            counted(publish{{topic, {}, true}, cfg_.output_qos, {}, false});
        }
    }

    // Public user records and private records of known users.
    std::set<std::string, std::less<>> known;
    for (const auto& party_id : engine_.party_ids()) {
        const auto snapshot = engine_.snapshot(party_id);
        for (const auto& m : snapshot->members) known.insert(m.user_id);
    }
    for (const auto& [id, r] : view.records) known.insert(id);
    for (const auto& [id, u] : view.users) known.insert(id);
    for (const auto& user_id : known) {
        const auto user = engine_.user(user_id);
        const auto pub = view.users.find(user_id);
        const auto rec = view.records.find(user_id);
        if (user) {
            if (pub == view.users.end() || wire::encode(*user) != pub->second.payload) {
                emit(core::publish_user{*user}, counted);
            }
            const auto record = engine_.record(user_id);
            if (rec == view.records.end() || wire::encode(*record) != rec->second.payload) {
                emit_record(user_id, counted);
            }
            continue;
        }
        // Forgotten: what the engine leaves for a forgotten user is an offline record with no
        // devices, and no private record.
        if (pub != view.users.end() &&
            (pub->second.value.online || !pub->second.value.devices.empty() ||
             !pub->second.value.parties.empty())) {
            core::user_presence gone;
            gone.user_id = user_id;
            gone.last_seen = pub->second.value.last_seen;
            gone.profile = pub->second.value.profile;
            emit(core::publish_user{std::move(gone)}, counted);
        }
        if (rec != view.records.end()) emit_record(user_id, counted);
    }
    counters_.restored_users = report.users;
    counters_.restored_parties = report.parties;
    counters_.restored_records = report.records;
    counters_.restore_rejected = report.rejected;
    counters_.restore_republished = report.republished;
    if (want(note::kind::info)) {
        add_note(note::kind::info,
                 "restore: records=" + std::to_string(report.records) + " users=" +
                     std::to_string(report.users) + " parties=" + std::to_string(report.parties) +
                     " rejected=" + std::to_string(report.rejected) +
                     " republished=" + std::to_string(report.republished) +
                     (report.upgraded && (report.users + report.parties) > 0
                          ? " (no private state: restored from public records, upgrade path)"
                          : ""));
    }
    return report;
}

}  // namespace presence::host
