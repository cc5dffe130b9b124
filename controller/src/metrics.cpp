#include "metrics.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <limits>

namespace presence::controller {

void latency_histogram::observe(std::chrono::nanoseconds elapsed) {
    const double seconds = std::chrono::duration<double>(elapsed).count();
    std::size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i]) ++i;
    ++buckets_[i];
    ++count_;
    sum_seconds_ += seconds;
}

double latency_histogram::quantile_bound(double q) const {
    if (count_ == 0) return 0;
    const auto wanted = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        seen += buckets_[i];
        if (seen >= wanted) return bounds[i];
    }
    return std::numeric_limits<double>::infinity();
}

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (const char c : value) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '"':
                out += "\\\"";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string format_value(double value) {
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    if (std::isnan(value)) return "NaN";
    if (value == std::floor(value) && std::fabs(value) < 1e15) {
        return std::to_string(static_cast<long long>(value));
    }
    std::array<char, 32> buf{};
    // Fixed notation ("0.0001", not "1e-04"), so a bucket's le label reads as people write it.
    const auto [end, ec] =
        std::to_chars(buf.data(), buf.data() + buf.size(), value, std::chars_format::fixed);
    return ec == std::errc() ? std::string(buf.data(), end) : std::string("NaN");
}

}  // namespace presence::controller
