#pragma once
// Measurement helpers of the load generator: latency summaries, /proc sampling of the broker and
// controller, and a small ordered JSON writer for results files.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace presence::bench {

// Percentiles of one latency sample set, in microseconds.
struct latency_summary {
    std::size_t count = 0;
    double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;
};
latency_summary summarize(std::vector<double> samples_us);

// Writes "latency_us cumulative_fraction" lines (at most `points` of them) for a CDF plot.
void write_cdf(const std::filesystem::path& file, std::vector<double> samples_us,
               std::size_t points = 2000);

// CPU time and memory of a process, read from /proc/<pid>/stat and /proc/<pid>/status.
struct proc_sample {
    double cpu_s = 0;           // utime + stime
    std::uint64_t rss_kib = 0;  // VmRSS
    std::uint64_t hwm_kib = 0;  // VmHWM
    bool ok = false;
};
proc_sample sample_process(pid_t pid);
// The calling process's own CPU time (user + system).
double self_cpu_seconds();

// An ordered JSON object built from key/value pairs; values are pre-rendered JSON.
class json_object {
  public:
    json_object& add(const std::string& key, double value);
    json_object& add(const std::string& key, std::int64_t value);
    json_object& add(const std::string& key, std::uint64_t value);
    json_object& add(const std::string& key, int value) {
        return add(key, static_cast<std::int64_t>(value));
    }
    json_object& add(const std::string& key, bool value);
    json_object& add(const std::string& key, const std::string& value);
    json_object& add(const std::string& key, const char* value) {
        return add(key, std::string(value));
    }
    json_object& add(const std::string& key, const json_object& value);
    json_object& add(const std::string& key, const std::vector<json_object>& values);
    json_object& add(const std::string& key, const latency_summary& value);
    std::string str(int indent = 0) const;

  private:
    std::vector<std::pair<std::string, std::string>> fields_;
};

std::string json_quote(const std::string& s);

}  // namespace presence::bench
