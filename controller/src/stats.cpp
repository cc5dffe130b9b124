#include "stats.hpp"

#include <numeric>

#include "metric_table.hpp"

namespace presence::controller {

namespace {

class json_object {
  public:
    void add(std::string_view key, std::uint64_t value) {
        text_ += text_.empty() ? '{' : ',';
        text_ += '"';
        text_ += key;
        text_ += "\":";
        text_ += std::to_string(value);
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

std::string to_json(const metrics_snapshot& m) {
    json_object j;
    std::vector<metric_sample> samples;
    for (const auto& row : metric_table()) {
        if (row.type == metric_type::histogram) {
            const auto& h = row.histogram(m);
            const std::string key(row.json);
            j.add(key + "_count", h.count());
            j.add(key + "_sum_us", static_cast<std::uint64_t>(h.sum_seconds() * 1e6));
            j.add(key + "_p50_us", quantile_us(h, 0.5));
            j.add(key + "_p99_us", quantile_us(h, 0.99));
            continue;
        }
        samples.clear();
        row.samples(m, samples);
        for (const auto& sample : samples) j.add(json_key(row, sample), sample.value);
    }
    // Sums over a labelled family, for readers of the stats topic (Prometheus sums by itself).
    const auto& c = m.c;
    for (std::size_t k = 0; k < inbound_kind_count; ++k) {
        j.add(std::string("inbound_") + wire::to_string(static_cast<wire::inbound_kind>(k)),
              c.inbound[k]);
    }
    for (std::size_t o = 0; o < outcome_count; ++o) {
        j.add(std::string("outcome_") + core::to_string(metric_rows::all_outcomes[o]),
              outcome_total(c, o));
    }
    j.add("rejected", sum(c.rejected));
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
