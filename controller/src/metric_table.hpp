#pragma once
// The one table of the controller's metrics. The stats topic (to_json in stats.cpp) and /metrics
// (to_prometheus in prometheus.cpp) both render every row of it, so a counter added here shows
// up in both, and the two can no longer drift apart. It reads only the counters, the engine
// gauges and the health facts of a metrics_snapshot, so it moves with the counters.

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "stats.hpp"

namespace presence::controller {

// How Prometheus reads a metric; the stats topic shows every kind as plain numbers.
enum class metric_type { counter, gauge, histogram };

// One sample of a metric: the values of its family's label keys, in order, and the value.
struct metric_sample {
    std::array<std::string_view, 2> labels{};
    std::uint64_t value = 0;
    // The stats key when it is not <json>_<label values joined by '_'> (kept for compatibility).
    std::string_view json_key{};
};

// One metric: its stats key (or key prefix, for a labelled family), its Prometheus family name,
// type and help, its label keys (none for a single sample), and how to read it.
struct metric {
    std::string_view json;
    std::string_view name;
    metric_type type = metric_type::counter;
    std::string_view help;
    std::array<std::string_view, 2> label_keys{};
    // Appends the samples (counter and gauge); null for a histogram.
    void (*samples)(const metrics_snapshot& m, std::vector<metric_sample>& out) = nullptr;
    // The histogram (histogram only): Prometheus shows its buckets, the stats topic its count,
    // sum and p50/p99 in microseconds.
    const latency_histogram& (*histogram)(const metrics_snapshot& m) = nullptr;
};

namespace metric_rows {

inline constexpr std::array<core::outcome, outcome_count> all_outcomes{
    core::outcome::applied, core::outcome::duplicate, core::outcome::stale, core::outcome::unknown};

// A row with one sample read by `read`.
template <auto read>
void one(const metrics_snapshot& m, std::vector<metric_sample>& out) {
    out.push_back({{}, static_cast<std::uint64_t>(read(m))});
}

// A family with one label: values(m)[i] for every i from `first`, labelled name(i).
template <auto values, auto name, std::size_t first = 0>
void by_label(const metrics_snapshot& m, std::vector<metric_sample>& out) {
    const auto& v = values(m);
    for (std::size_t i = first; i < v.size(); ++i) out.push_back({{name(i)}, v[i]});
}

}  // namespace metric_rows

// Every metric, in the order /metrics lists them. To add one: a counters (or health) field and a
// row here; tests/unit/test_metrics.cpp checks that every row appears in both renderings.
inline const std::vector<metric>& metric_table() {
    using metric_rows::by_label;
    using metric_rows::one;
    using i = std::size_t;
    using s = const metrics_snapshot&;
    static const std::vector<metric> rows{
        {"broker_connected",
         "presence_broker_connected",
         metric_type::gauge,
         "1 while the controller's MQTT session to the broker is connected, else 0.",
         {},
         one<[](s m) { return m.h.broker_connected ? 1 : 0; }>},
        {"broker_connects",
         "presence_broker_connects_total",
         metric_type::counter,
         "Successful connects of the controller's MQTT session (1 + reconnects).",
         {},
         one<[](s m) { return m.h.broker_connects; }>},
        {"connection_lost",
         "presence_broker_connection_lost_total",
         metric_type::counter,
         "Times the controller's MQTT session lost its connection.",
         {},
         one<[](s m) { return m.c.connection_lost; }>},
        {"broker_epoch_changes",
         "presence_broker_epoch_changes_total",
         metric_type::counter,
         "Broker restarts seen through a new broker epoch (plugin), each reconciled.",
         {},
         one<[](s m) { return m.c.broker_epoch_changes; }>},
        {"reconciled_devices",
         "presence_reconciled_devices_total",
         metric_type::counter,
         "Live devices sent reconnecting because the broker epoch changed.",
         {},
         one<[](s m) { return m.c.reconciled_devices; }>},
        {"restore_complete",
         "presence_restore_complete",
         metric_type::gauge,
         "1 when the retained state was read completely at start, 0 while restoring or after "
         "--restore-timeout cut it short.",
         {},
         one<[](s m) { return m.h.restore_complete ? 1 : 0; }>},
        {"restored",
         "presence_restored_records",
         metric_type::gauge,
         "Retained records read back at start, by kind (rejected: did not decode).",
         {"kind"},
         [](s m, std::vector<metric_sample>& out) {
             out.push_back({{"users"}, m.c.restored_users});
             out.push_back({{"parties"}, m.c.restored_parties});
             out.push_back({{"records"}, m.c.restored_records});
             out.push_back({{"rejected"}, m.c.restore_rejected, "restore_rejected"});
         }},
        {"live_devices",
         "presence_live_devices",
         metric_type::gauge,
         "Devices with a live connection.",
         {},
         one<[](s m) { return m.engine.live_devices; }>},
        {"devices",
         "presence_devices",
         metric_type::gauge,
         "Devices known: live or reconnecting within the grace period.",
         {},
         one<[](s m) { return m.engine.devices; }>},
        {"users",
         "presence_users",
         metric_type::gauge,
         "Users with at least one known device.",
         {},
         one<[](s m) { return m.engine.users; }>},
        {"parties",
         "presence_parties",
         metric_type::gauge,
         "Parties with at least one member.",
         {},
         one<[](s m) { return m.engine.parties; }>},
        {"members",
         "presence_members",
         metric_type::gauge,
         "Members over all parties.",
         {},
         one<[](s m) { return m.engine.members; }>},
        {"reconnecting_members",
         "presence_reconnecting_members",
         metric_type::gauge,
         "Members whose devices all lost their connection, waiting out the grace period.",
         {},
         one<[](s m) { return m.engine.reconnecting_members; }>},
        {"outcome",
         "presence_inbound_total",
         metric_type::counter,
         "Decoded inbound messages by kind and by what the engine did with them.",
         {"kind", "outcome"},
         [](s m, std::vector<metric_sample>& out) {
             for (std::size_t k = 0; k < inbound_kind_count; ++k) {
                 for (std::size_t o = 0; o < outcome_count; ++o) {
                     out.push_back({{wire::to_string(static_cast<wire::inbound_kind>(k)),
                                     core::to_string(metric_rows::all_outcomes[o])},
                                    m.c.outcomes[k][o]});
                 }
             }
         }},
        {"rejected", "presence_rejected_total", metric_type::counter,
         "Inbound messages rejected before reaching the engine, by cause.", {"cause"},
         by_label < [](s m) -> const auto& {return m.c.rejected;
}
, [](i e) { return wire::to_string(static_cast<wire::error>(e)); }, 1 >
}  // namespace presence::controller
, {"events", "presence_events_total", metric_type::counter, "Party events published, by kind.",
   {"kind"}, by_label < [](s m) -> const auto& {return m.c.events;
}
, [](i k) { return core::to_string(static_cast<core::event_kind>(k)); } >
}
, {"leaves", "presence_leaves_total", metric_type::counter, "Members that left a party, by reason.",
   {"reason"}, by_label < [](s m) -> const auto& {return m.c.leaves;
}
, [](i r) { return core::to_string(static_cast<core::leave_reason>(r)); } >
}
,
    {"grace_expiries",
     "presence_grace_expiries_total",
     metric_type::counter,
     "Members that left because the grace period ran out (reason timeout).",
     {},
     one<[](s m) { return m.c.grace_expiries; }>},
    {"published",
     "presence_published_total",
     metric_type::counter,
     "MQTT publishes handed to the client.",
     {},
     one<[](s m) { return m.c.published; }>},
    {"publish_errors",
     "presence_publish_errors_total",
     metric_type::counter,
     "Publishes that never reached the broker: refused as unsendable, or reported failed by "
     "the MQTT client after it accepted them.",
     {},
     one<[](s m) { return m.c.publish_errors; }>},
    {"publish_queue_depth",
     "presence_publish_queue_depth",
     metric_type::gauge,
     "Publishes the MQTT client refused, kept in order for their next try.",
     {},
     one<[](s m) { return m.h.publish_queue_depth; }>},
    {"publish_refusals",
     "presence_publish_refusals_total",
     metric_type::counter,
     "Times the MQTT client refused a publish that was kept and retried.",
     {},
     one<[](s m) { return m.out.refusals; }>},
    {"publish_failures",
     "presence_publish_failures_total",
     metric_type::counter,
     "Publishes the MQTT client accepted and later reported as failed (counted, not resent).",
     {},
     one<[](s m) { return m.out.failed; }>},
    {"publish_pending",
     "presence_publish_pending",
     metric_type::gauge,
     "Publishes not yet completed: kept after a refusal, or held by the MQTT client until the "
     "broker acknowledges them (QoS 1) or they are written (QoS 0).",
     {},
     one<[](s m) { return m.out.pending_publishes; }>},
    {"publish_pending_bytes",
     "presence_publish_pending_bytes",
     metric_type::gauge,
     "Topic and payload bytes of the pending publishes.",
     {},
     one<[](s m) { return m.out.pending_bytes; }>},
    {"backpressure_pauses",
     "presence_backpressure_pauses_total",
     metric_type::counter,
     "Times the controller stopped taking input because pending publishes reached "
     "--max-pending-publishes or --max-pending-bytes.",
     {},
     one<[](s m) { return m.out.backpressure_pauses; }>},
    {"backpressure_paused",
     "presence_backpressure_paused",
     metric_type::gauge,
     "1 while input is stopped until the pending publishes drain to half the limits.",
     {},
     one<[](s m) { return m.out.backpressure_paused ? 1 : 0; }>},
    {"coalesced_snapshots",
     "presence_coalesced_snapshots_total",
     metric_type::counter,
     "Snapshots of big parties (above --coalesce-above) published late by the coalescer.",
     {},
     one<[](s m) { return m.c.coalesced_snapshots; }>},
    {"restore_republished",
     "presence_restore_republished_total",
     metric_type::counter,
     "Public snapshots, user records and private records republished after a restore because "
     "the retained copy differed from the restored truth.",
     {},
     one<[](s m) { return m.c.restore_republished; }>},
    {"epoch_republished",
     "presence_epoch_republished_total",
     metric_type::counter,
     "Records republished after a new broker epoch (a restarted broker may hold stale copies).",
     {},
     one<[](s m) { return m.c.epoch_republished; }>},
    {"query",
     "presence_queries_total",
     metric_type::counter,
     "Queries answered, by kind (unknown: the payload named none) and status.",
     {"kind", "status"},
     [](s m, std::vector<metric_sample>& out) {
         for (std::size_t k = 0; k <= wire::query_kind_count; ++k) {
             for (std::size_t st = 0; st < wire::query_status_count; ++st) {
                 if (k == wire::query_kind_count && st == 0) continue;  // never ok
                 out.push_back({{query_kind_name(k),
                                 wire::to_string(static_cast<wire::query_status>(st + 1))},
                                m.c.queries[k][st]});
             }
         }
     }},
    {"query_dropped", "presence_queries_dropped_total", metric_type::counter,
     "Queries that got no answer at all, by cause.", {"cause"},
     by_label < [](s m) -> const auto& {return m.c.queries_dropped;
}
, [](i q) { return to_string(static_cast<query_drop>(q)); }, 1 >
}
,
    {"processing",
     "presence_processing_seconds",
     metric_type::histogram,
     "Time from taking an input burst off the queue to every effect of it handed to the "
     "MQTT client.",
     {},
     nullptr,
     [](s m) -> const latency_histogram& { return m.c.processing; }},
}
;
return rows;
}

// The stats key of one sample of a row: its override, the row's key, or the key and the label
// values joined by '_'.
inline std::string json_key(const metric& row, const metric_sample& sample) {
    if (!sample.json_key.empty()) return std::string(sample.json_key);
    std::string key(row.json);
    for (const auto label : sample.labels) {
        if (!label.empty()) key.append("_").append(label);
    }
    return key;
}

}  // namespace presence::controller
