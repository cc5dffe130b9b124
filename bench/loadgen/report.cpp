#include "report.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <numeric>
#include <sstream>

namespace presence::bench {

namespace {

double at_fraction(const std::vector<double>& sorted, double q) {
    if (sorted.empty()) return 0;
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
    return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

std::string number(double v) {
    if (!std::isfinite(v)) return "null";
    std::ostringstream out;
    out << std::setprecision(6) << v;
    return out.str();
}

}  // namespace

latency_summary summarize(std::vector<double> samples_us) {
    latency_summary s;
    s.count = samples_us.size();
    if (samples_us.empty()) return s;
    std::sort(samples_us.begin(), samples_us.end());
    s.p50 = at_fraction(samples_us, 0.50);
    s.p90 = at_fraction(samples_us, 0.90);
    s.p99 = at_fraction(samples_us, 0.99);
    s.p999 = at_fraction(samples_us, 0.999);
    s.max = samples_us.back();
    s.mean = std::accumulate(samples_us.begin(), samples_us.end(), 0.0) /
             static_cast<double>(samples_us.size());
    return s;
}

void write_cdf(const std::filesystem::path& file, std::vector<double> samples_us,
               std::size_t points) {
    std::ofstream out(file);
    if (samples_us.empty()) return;
    std::sort(samples_us.begin(), samples_us.end());
    const std::size_t n = samples_us.size();
    const std::size_t step = std::max<std::size_t>(1, n / points);
    for (std::size_t i = 0; i < n; i += step) {
        out << samples_us[i] << ' ' << static_cast<double>(i + 1) / static_cast<double>(n) << '\n';
    }
    out << samples_us.back() << " 1\n";
}

proc_sample sample_process(pid_t pid) {
    proc_sample s;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    if (!std::getline(stat, text)) return s;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const auto close = text.rfind(')');
    if (close == std::string::npos) return s;
    std::istringstream rest(text.substr(close + 2));
    std::vector<std::string> fields;
    for (std::string f; rest >> f;) fields.push_back(f);
    // utime and stime are fields 14 and 15 of the whole line: indexes 11 and 12 here.
    if (fields.size() < 13) return s;
    const auto ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    s.cpu_s = (std::stod(fields[11]) + std::stod(fields[12])) / ticks;
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);) {
        std::istringstream in(line);
        std::string key;
        std::uint64_t kib = 0;
        in >> key >> kib;
        if (key == "VmRSS:") s.rss_kib = kib;
        if (key == "VmHWM:") s.hwm_kib = kib;
    }
    s.ok = true;
    return s;
}

double self_cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::string json_quote(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += c;
                }
        }
    }
    return out + "\"";
}

json_object& json_object::add(const std::string& key, double value) {
    fields_.emplace_back(key, number(value));
    return *this;
}
json_object& json_object::add(const std::string& key, std::int64_t value) {
    fields_.emplace_back(key, std::to_string(value));
    return *this;
}
json_object& json_object::add(const std::string& key, std::uint64_t value) {
    fields_.emplace_back(key, std::to_string(value));
    return *this;
}
json_object& json_object::add(const std::string& key, bool value) {
    fields_.emplace_back(key, value ? "true" : "false");
    return *this;
}
json_object& json_object::add(const std::string& key, const std::string& value) {
    fields_.emplace_back(key, json_quote(value));
    return *this;
}
json_object& json_object::add(const std::string& key, const json_object& value) {
    fields_.emplace_back(key, "\x01" + value.str());
    return *this;
}
json_object& json_object::add(const std::string& key, const std::vector<json_object>& values) {
    std::string out = "\x01[";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i > 0) out += ",";
        out += values[i].str();
    }
    fields_.emplace_back(key, out + "]");
    return *this;
}
json_object& json_object::add(const std::string& key, const latency_summary& v) {
    json_object o;
    o.add("count", static_cast<std::uint64_t>(v.count))
        .add("p50_us", v.p50)
        .add("p90_us", v.p90)
        .add("p99_us", v.p99)
        .add("p999_us", v.p999)
        .add("max_us", v.max)
        .add("mean_us", v.mean);
    return add(key, o);
}

std::string json_object::str(int indent) const {
    // Nested values are marked with a leading \x01 and re-indented on output.
    const std::string pad(static_cast<std::size_t>(indent + 2), ' ');
    std::string out = "{\n";
    for (std::size_t i = 0; i < fields_.size(); ++i) {
        const auto& [k, v] = fields_[i];
        out += pad + json_quote(k) + ": ";
        if (!v.empty() && v[0] == '\x01') {
            std::string nested = v.substr(1);
            std::string shifted;
            for (const char c : nested) {
                shifted += c;
                if (c == '\n') shifted += pad;
            }
            out += shifted;
        } else {
            out += v;
        }
        out += i + 1 < fields_.size() ? ",\n" : "\n";
    }
    return out + std::string(static_cast<std::size_t>(indent), ' ') + "}";
}

}  // namespace presence::bench
