#include "stats.hpp"

#include <numeric>

namespace presence::controller {

namespace {

constexpr std::array<core::outcome, outcome_count> all_outcomes{
    core::outcome::applied, core::outcome::duplicate, core::outcome::stale, core::outcome::unknown};

class json_object {
  public:
    void add(std::string_view key, std::uint64_t value) {
        text_ += text_.empty() ? '{' : ',';
        text_ += '"';
        text_ += key;
        text_ += "\":";
        text_ += std::to_string(value);
    }
    // Appends the fields of another object (its text without the braces).
    void merge(std::string_view object) {
        if (object.size() <= 2) return;
        text_ += text_.empty() ? '{' : ',';
        text_.append(object.substr(1, object.size() - 2));
    }
    std::string done() && {
        text_ += text_.empty() ? "{}" : "}";
        return std::move(text_);
    }

  private:
    std::string text_;
};

std::uint64_t outcome_total(const counters& c, std::size_t o) {
    std::uint64_t n = 0;
    for (const auto& per_kind : c.outcomes) n += per_kind[o];
    return n;
}

// A histogram quantile as whole microseconds: the upper bound of its bucket, 0 when empty,
// 1000001 when it lies beyond the last bound (1 s).
std::uint64_t quantile_us(const latency_histogram& h, double q) {
    const double bound = h.quantile_bound(q);
    return bound > 1.0 ? 1'000'001 : static_cast<std::uint64_t>(bound * 1e6 + 0.5);
}

std::uint64_t sum(const auto& values) {
    return std::accumulate(values.begin(), values.end(), std::uint64_t{0});
}

}  // namespace

const char* query_kind_name(std::size_t k) {
    return k < wire::query_kind_count ? wire::to_string(static_cast<wire::query_kind>(k))
                                      : "unknown";
}

std::string to_json(const counters& c, const core::engine_stats& s) {
    json_object j;
    for (std::size_t k = 0; k < inbound_kind_count; ++k) {
        j.add(std::string("inbound_") + wire::to_string(static_cast<wire::inbound_kind>(k)),
              c.inbound[k]);
    }
    for (std::size_t o = 0; o < outcome_count; ++o) {
        j.add(std::string("outcome_") + core::to_string(all_outcomes[o]), outcome_total(c, o));
    }
    for (std::size_t k = 0; k < inbound_kind_count; ++k) {
        for (std::size_t o = 0; o < outcome_count; ++o) {
            j.add(std::string("outcome_") + wire::to_string(static_cast<wire::inbound_kind>(k)) +
                      "_" + core::to_string(all_outcomes[o]),
                  c.outcomes[k][o]);
        }
    }
    for (std::size_t e = 1; e < error_count; ++e) {
        j.add(std::string("rejected_") + wire::to_string(static_cast<wire::error>(e)),
              c.rejected[e]);
    }
    j.add("rejected", sum(c.rejected));
    j.add("published", c.published);
    j.add("coalesced_snapshots", c.coalesced_snapshots);
    j.add("publish_errors", c.publish_errors);
    j.add("grace_expiries", c.grace_expiries);
    j.add("restored_users", c.restored_users);
    j.add("restored_parties", c.restored_parties);
    j.add("restore_rejected", c.restore_rejected);
    j.add("connection_lost", c.connection_lost);
    j.add("broker_epoch_changes", c.broker_epoch_changes);
    j.add("reconciled_devices", c.reconciled_devices);
    for (std::size_t k = 0; k <= wire::query_kind_count; ++k) {
        for (std::size_t st = 0; st < wire::query_status_count; ++st) {
            if (k == wire::query_kind_count && st == 0) continue;  // "unknown" is never ok
            j.add(std::string("query_") + query_kind_name(k) + "_" +
                      wire::to_string(static_cast<wire::query_status>(st + 1)),
                  c.queries[k][st]);
        }
    }
    for (std::size_t d = 1; d < query_drop_count; ++d) {
        j.add(std::string("query_dropped_") + to_string(static_cast<query_drop>(d)),
              c.queries_dropped[d]);
    }
    for (std::size_t k = 0; k < event_kind_count; ++k) {
        j.add(std::string("events_") + core::to_string(static_cast<core::event_kind>(k)),
              c.events[k]);
    }
    for (std::size_t r = 0; r < leave_reason_count; ++r) {
        j.add(std::string("leaves_") + core::to_string(static_cast<core::leave_reason>(r)),
              c.leaves[r]);
    }
    j.add("processing_count", c.processing.count());
    j.add("processing_sum_us", static_cast<std::uint64_t>(c.processing.sum_seconds() * 1e6));
    j.add("processing_p50_us", quantile_us(c.processing, 0.5));
    j.add("processing_p99_us", quantile_us(c.processing, 0.99));
    j.add("parties", s.parties);
    j.add("members", s.members);
    j.add("reconnecting_members", s.reconnecting_members);
    j.add("devices", s.devices);
    j.add("live_devices", s.live_devices);
    j.add("users", s.users);
    return std::move(j).done();
}

std::string to_json(const metrics_snapshot& m) {
    json_object j;
    j.merge(to_json(m.c, m.engine));
    j.add("broker_connected", m.h.broker_connected ? 1 : 0);
    j.add("broker_connects", m.h.broker_connects);
    j.add("restore_complete", m.h.restore_complete ? 1 : 0);
    j.add("publish_queue_depth", m.h.publish_queue_depth);
    j.add("publish_pending", m.out.pending_publishes);
    j.add("publish_pending_bytes", m.out.pending_bytes);
    j.add("publish_refusals", m.out.refusals);
    j.add("publish_failures", m.out.failed);
    j.add("backpressure_pauses", m.out.backpressure_pauses);
    j.add("backpressure_paused", m.out.backpressure_paused ? 1 : 0);
    return std::move(j).done();
}

std::string summary(const counters& c, const core::engine_stats& s) {
    return "stats inbound=" + std::to_string(sum(c.inbound)) +
           " applied=" + std::to_string(outcome_total(c, 0)) +
           " rejected=" + std::to_string(sum(c.rejected)) +
           " published=" + std::to_string(c.published) +
           " expiries=" + std::to_string(c.grace_expiries) +
           " parties=" + std::to_string(s.parties) + " members=" + std::to_string(s.members) +
           " reconnecting=" + std::to_string(s.reconnecting_members) +
           " devices=" + std::to_string(s.devices);
}

}  // namespace presence::controller
