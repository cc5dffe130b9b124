#pragma once
// The controller's counters and their JSON form for presence/controller/stats.

#include <array>
#include <cstdint>
#include <string>

#include "metrics.hpp"
#include "presence/core/engine.hpp"
#include "presence/wire/query.hpp"
#include "presence/wire/wire.hpp"
#include "query.hpp"

namespace presence::controller {

inline constexpr std::size_t inbound_kind_count = 9;  // wire::inbound_kind values
inline constexpr std::size_t outcome_count = 4;       // core::outcome values
inline constexpr std::size_t error_count = 8;         // wire::error values, ok included

inline constexpr std::size_t event_kind_count = 5;    // core::event_kind values
inline constexpr std::size_t leave_reason_count = 3;  // core::leave_reason values

static_assert(static_cast<std::size_t>(wire::inbound_kind::broker_epoch) + 1 == inbound_kind_count);
static_assert(static_cast<std::size_t>(wire::error::identity_mismatch) + 1 == error_count);

// Everything the controller counts, so operators and integration tests can see what happened to
// the input (how much arrived, what it did, what was rejected and why) without reading logs.
struct counters {
    std::array<std::uint64_t, inbound_kind_count> inbound{};
    std::array<std::array<std::uint64_t, outcome_count>, inbound_kind_count> outcomes{};
    std::array<std::uint64_t, error_count> rejected{};
    std::uint64_t published = 0;
    std::uint64_t publish_errors = 0;
    std::uint64_t grace_expiries = 0;  // members that left with reason timeout
    std::uint64_t restored_users = 0;
    std::uint64_t restored_parties = 0;
    std::uint64_t restore_rejected = 0;
    std::uint64_t connection_lost = 0;
    std::uint64_t broker_epoch_changes = 0;  // reconciliations after a new broker epoch
    std::uint64_t reconciled_devices = 0;    // live devices they sent reconnecting
    // Queries answered, per kind and status; the last kind row counts payloads that named no
    // query ("unknown"). Dropped queries (no answer at all) are counted per cause.
    std::array<std::array<std::uint64_t, wire::query_status_count>, wire::query_kind_count + 1>
        queries{};
    std::array<std::uint64_t, query_drop_count> queries_dropped{};
    // Party events published, per kind; members that left, per reason.
    std::array<std::uint64_t, event_kind_count> events{};
    std::array<std::uint64_t, leave_reason_count> leaves{};
    // Time from taking the first message of an input burst off the queue to every effect of
    // the burst handed to the MQTT client; also the grace-expiry passes without input.
    latency_histogram processing;
    std::uint64_t coalesced_snapshots = 0;  // big-party snapshots published late by the coalescer

    // Counts one decoded input and what the engine did with it.
    void count(wire::inbound_kind kind, core::outcome o) {
        ++inbound[static_cast<std::size_t>(kind)];
        ++outcomes[static_cast<std::size_t>(kind)][static_cast<std::size_t>(o)];
    }
    // Counts one rejected input.
    void count(wire::error e) { ++rejected[static_cast<std::size_t>(e)]; }
    // Counts one published party event.
    void count(const core::party_event& e) {
        ++events[static_cast<std::size_t>(e.kind)];
        if (e.kind == core::event_kind::left) ++leaves[static_cast<std::size_t>(e.reason)];
    }
    // Counts one query: answered (per kind and status) or dropped (per cause).
    void count(const query_answer& a) {
        if (a.drop != query_drop::none) {
            ++queries_dropped[static_cast<std::size_t>(a.drop)];
            return;
        }
        const auto kind = a.kind ? static_cast<std::size_t>(*a.kind) : wire::query_kind_count;
        ++queries[kind][static_cast<std::size_t>(a.status) - 1];
    }
};

// The label of a row of counters::queries: a query kind, or "unknown" for the last row.
const char* query_kind_name(std::size_t k);

// One flat JSON object: inbound_<kind>, outcome_<outcome>, outcome_<kind>_<outcome>,
// rejected_<reason>, the other counters, and the engine gauges.
std::string to_json(const counters& c, const core::engine_stats& s);

// Everything /metrics, /healthz and the stats topic show, captured by the loop thread at one
// instant and never changed afterwards, so the HTTP thread can read it without a lock.
struct metrics_snapshot {
    counters c;
    core::engine_stats engine;
    health h;
    std::chrono::steady_clock::time_point taken_at{};
    // engine_stats() walks every member, so the loop refreshes these gauges only when a scrape
    // or the stats topic needs them; this says when they were taken.
    std::chrono::steady_clock::time_point engine_taken_at{};
    outbound_stats out;  // the publish path: pending output and backpressure
};

// The stats topic's JSON (see to_json above) plus the health facts: broker_connected,
// broker_connects, restore_complete, publish_queue_depth, and the publish path's numbers:
// publish_pending, publish_pending_bytes, publish_refusals, publish_failures,
// backpressure_pauses, backpressure_paused.
std::string to_json(const metrics_snapshot& m);

// Renders the snapshot as Prometheus text exposition format 0.0.4: one # HELP and # TYPE line
// per family before its samples, presence_ prefix, labels for kinds, outcomes, causes and
// reasons, the processing latency as a histogram (_bucket{le=...}, _sum, _count).
std::string to_prometheus(const metrics_snapshot& m, std::string_view version);

// A one-line summary for the log.
std::string summary(const counters& c, const core::engine_stats& s);

}  // namespace presence::controller
