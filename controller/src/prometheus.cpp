// The Prometheus text exposition (format 0.0.4) of a metrics snapshot.
#include <initializer_list>
#include <utility>

#include "stats.hpp"

namespace presence::controller {

namespace {

using label = std::pair<std::string_view, std::string_view>;

class exposition {
  public:
    // Starts a metric family: its # HELP and # TYPE lines come before any of its samples.
    void family(std::string_view name, std::string_view type, std::string_view help) {
        name_ = name;
        text_.append("# HELP ").append(name).append(" ").append(help).append("\n");
        text_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
    }

    // One sample of the current family; `suffix` is "_bucket", "_sum" or "_count" for histograms.
    void sample(std::initializer_list<label> labels, double value, std::string_view suffix = {}) {
        text_.append(name_).append(suffix);
        if (labels.size() > 0) {
            text_ += '{';
            bool first = true;
            for (const auto& [key, val] : labels) {
                if (!first) text_ += ',';
                first = false;
                text_.append(key).append("=\"").append(escape_label_value(val)).append("\"");
            }
            text_ += '}';
        }
        text_.append(" ").append(format_value(value)).append("\n");
    }

    void gauge(std::string_view name, std::string_view help, double value) {
        family(name, "gauge", help);
        sample({}, value);
    }

    void counter(std::string_view name, std::string_view help, std::uint64_t value) {
        family(name, "counter", help);
        sample({}, static_cast<double>(value));
    }

    std::string done() && { return std::move(text_); }

  private:
    std::string text_;
    std::string name_;
};

constexpr std::array<core::outcome, outcome_count> all_outcomes{
    core::outcome::applied, core::outcome::duplicate, core::outcome::stale, core::outcome::unknown};

double d(std::uint64_t v) { return static_cast<double>(v); }
double d(std::size_t v, int) { return static_cast<double>(v); }

void histogram(exposition& out, std::string_view name, std::string_view help,
               const latency_histogram& h) {
    out.family(name, "histogram", help);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < latency_histogram::bounds.size(); ++i) {
        cumulative += h.buckets()[i];
        const std::string le = format_value(latency_histogram::bounds[i]);
        out.sample({{"le", le}}, d(cumulative), "_bucket");
    }
    out.sample({{"le", "+Inf"}}, d(h.count()), "_bucket");
    out.sample({}, h.sum_seconds(), "_sum");
    out.sample({}, d(h.count()), "_count");
}

}  // namespace

std::string to_prometheus(const metrics_snapshot& m, std::string_view version) {
    const auto& c = m.c;
    exposition out;
    out.family("presence_controller_info", "gauge",
               "Always 1; the version label says which controller build is running.");
    out.sample({{"version", version}}, 1);

    out.gauge("presence_broker_connected",
              "1 while the controller's MQTT session to the broker is connected, else 0.",
              m.h.broker_connected ? 1 : 0);
    out.counter("presence_broker_connects_total",
                "Successful connects of the controller's MQTT session (1 + reconnects).",
                m.h.broker_connects);
    out.counter("presence_broker_connection_lost_total",
                "Times the controller's MQTT session lost its connection.", c.connection_lost);
    out.counter("presence_broker_epoch_changes_total",
                "Broker restarts seen through a new broker epoch (plugin), each reconciled.",
                c.broker_epoch_changes);
    out.counter("presence_reconciled_devices_total",
                "Live devices sent reconnecting because the broker epoch changed.",
                c.reconciled_devices);
    out.gauge("presence_restore_complete",
              "1 when the retained state was read completely at start, 0 while restoring or "
              "after --restore-timeout cut it short.",
              m.h.restore_complete ? 1 : 0);
    out.family("presence_restored_records", "gauge",
               "Retained records read back at start, by kind (rejected: did not decode).");
    out.sample({{"kind", "users"}}, d(c.restored_users));
    out.sample({{"kind", "parties"}}, d(c.restored_parties));
    out.sample({{"kind", "rejected"}}, d(c.restore_rejected));

    out.gauge("presence_live_devices", "Devices with a live connection.",
              d(m.engine.live_devices, 0));
    out.gauge("presence_devices", "Devices known: live or reconnecting within the grace period.",
              d(m.engine.devices, 0));
    out.gauge("presence_users", "Users with at least one known device.", d(m.engine.users, 0));
    out.gauge("presence_parties", "Parties with at least one member.", d(m.engine.parties, 0));
    out.gauge("presence_members", "Members over all parties.", d(m.engine.members, 0));
    out.gauge("presence_reconnecting_members",
              "Members whose devices all lost their connection, waiting out the grace period.",
              d(m.engine.reconnecting_members, 0));

    out.family("presence_inbound_total", "counter",
               "Decoded inbound messages by kind and by what the engine did with them.");
    for (std::size_t k = 0; k < inbound_kind_count; ++k) {
        for (std::size_t o = 0; o < outcome_count; ++o) {
            out.sample({{"kind", wire::to_string(static_cast<wire::inbound_kind>(k))},
                        {"outcome", core::to_string(all_outcomes[o])}},
                       d(c.outcomes[k][o]));
        }
    }
    out.family("presence_rejected_total", "counter",
               "Inbound messages rejected before reaching the engine, by cause.");
    for (std::size_t e = 1; e < error_count; ++e) {
        out.sample({{"cause", wire::to_string(static_cast<wire::error>(e))}}, d(c.rejected[e]));
    }
    out.family("presence_events_total", "counter", "Party events published, by kind.");
    for (std::size_t k = 0; k < event_kind_count; ++k) {
        out.sample({{"kind", core::to_string(static_cast<core::event_kind>(k))}}, d(c.events[k]));
    }
    out.family("presence_leaves_total", "counter", "Members that left a party, by reason.");
    for (std::size_t r = 0; r < leave_reason_count; ++r) {
        out.sample({{"reason", core::to_string(static_cast<core::leave_reason>(r))}},
                   d(c.leaves[r]));
    }
    out.counter("presence_grace_expiries_total",
                "Members that left because the grace period ran out (reason timeout).",
                c.grace_expiries);

    out.counter("presence_published_total", "MQTT publishes handed to the client.", c.published);
    out.counter("presence_publish_errors_total",
                "Publishes that never reached the broker: refused as unsendable, or reported "
                "failed by the MQTT client after it accepted them.",
                c.publish_errors);
    out.gauge("presence_publish_queue_depth",
              "Publishes the MQTT client refused, kept in order for their next try.",
              d(m.h.publish_queue_depth, 0));
    out.counter("presence_publish_refusals_total",
                "Times the MQTT client refused a publish that was kept and retried.",
                m.out.refusals);
    out.gauge("presence_publish_pending",
              "Publishes not yet completed: kept after a refusal, or held by the MQTT client "
              "until the broker acknowledges them (QoS 1) or they are written (QoS 0).",
              d(m.out.pending_publishes, 0));
    out.gauge("presence_publish_pending_bytes", "Topic and payload bytes of the pending publishes.",
              d(m.out.pending_bytes, 0));
    out.counter("presence_backpressure_pauses_total",
                "Times the controller stopped taking input because pending publishes reached "
                "--max-pending-publishes or --max-pending-bytes.",
                m.out.backpressure_pauses);
    out.gauge("presence_backpressure_paused",
              "1 while input is stopped until the pending publishes drain to half the limits.",
              m.out.backpressure_paused ? 1 : 0);

    out.family("presence_queries_total", "counter",
               "Queries answered, by kind (unknown: the payload named none) and status.");
    for (std::size_t k = 0; k <= wire::query_kind_count; ++k) {
        for (std::size_t st = 0; st < wire::query_status_count; ++st) {
            if (k == wire::query_kind_count && st == 0) continue;  // "unknown" is never ok
            out.sample({{"kind", query_kind_name(k)},
                        {"status", wire::to_string(static_cast<wire::query_status>(st + 1))}},
                       d(c.queries[k][st]));
        }
    }
    out.family("presence_queries_dropped_total", "counter",
               "Queries that got no answer at all, by cause.");
    for (std::size_t q = 1; q < query_drop_count; ++q) {
        out.sample({{"cause", to_string(static_cast<query_drop>(q))}}, d(c.queries_dropped[q]));
    }

    histogram(out, "presence_processing_seconds",
              "Time from taking an input burst off the queue to every effect of it handed to "
              "the MQTT client.",
              c.processing);
    return std::move(out).done();
}

}  // namespace presence::controller
