#pragma once
// The controller's counters and their two renderings (the stats topic's JSON and /metrics),
// both driven by the rows of metric_table.hpp.

#include <array>
#include <cstdint>
#include <string>

#include "metrics.hpp"
#include "presence/core/engine.hpp"
#include "presence/host/counters.hpp"
#include "presence/wire/query.hpp"
#include "presence/wire/wire.hpp"

namespace presence::controller {

using host::error_count;
using host::event_kind_count;
using host::inbound_kind_count;
using host::leave_reason_count;
using host::outcome_count;
using host::query_drop;
using host::query_drop_count;

// The host's counters plus what only the controller can measure (it owns the clock).
struct counters : host::counters {
    // Time from taking the first message of an input burst off the queue to every effect of
    // the burst handed to the MQTT client; also the grace-expiry passes without input.
    latency_histogram processing;
};

using host::query_kind_name;

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

// The stats topic's JSON, one flat object: every row of metric_table() (metric_table.hpp), a
// labelled family as <key>_<label values>, the histogram as processing_count, _sum_us, _p50_us
// and _p99_us; then the sums inbound_<kind>, outcome_<outcome> and rejected.
std::string to_json(const metrics_snapshot& m);

// Renders the snapshot as Prometheus text exposition format 0.0.4: presence_controller_info, then
// every row of metric_table(), one # HELP and # TYPE line per family before its samples, the
// processing latency as a histogram (_bucket{le=...}, _sum, _count).
std::string to_prometheus(const metrics_snapshot& m, std::string_view version);

// A one-line summary for the log.
std::string summary(const counters& c, const core::engine_stats& s);

}  // namespace presence::controller
