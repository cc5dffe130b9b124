// The Prometheus text exposition (format 0.0.4) of a metrics snapshot, from metric_table().
#include <initializer_list>
#include <utility>

#include "metric_table.hpp"
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

    std::string done() && { return std::move(text_); }

  private:
    std::string text_;
    std::string name_;
};

double d(std::uint64_t v) { return static_cast<double>(v); }

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
    exposition out;
    out.family("presence_controller_info", "gauge",
               "Always 1; the version label says which controller build is running.");
    out.sample({{"version", version}}, 1);
    std::vector<metric_sample> samples;
    for (const auto& row : metric_table()) {
        if (row.type == metric_type::histogram) {
            histogram(out, row.name, row.help, row.histogram(m));
            continue;
        }
        out.family(row.name, row.type == metric_type::counter ? "counter" : "gauge", row.help);
        samples.clear();
        row.samples(m, samples);
        for (const auto& sample : samples) {
            const auto& keys = row.label_keys;
            const auto& values = sample.labels;
            if (keys[1].empty() && keys[0].empty()) {
                out.sample({}, d(sample.value));
            } else if (keys[1].empty()) {
                out.sample({{keys[0], values[0]}}, d(sample.value));
            } else {
                out.sample({{keys[0], values[0]}, {keys[1], values[1]}}, d(sample.value));
            }
        }
    }
    return std::move(out).done();
}

}  // namespace presence::controller
