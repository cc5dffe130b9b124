#include "presence/common/duration.hpp"

#include <array>
#include <cstdint>
#include <limits>

namespace presence::common {

namespace {

struct unit {
    std::string_view suffix;
    std::int64_t ms;
};

// Longest suffix first so that "ms" is not read as "m" followed by garbage; the rank enforces
// that units appear from largest to smallest, each at most once ("1m30s", never "30s1m").
constexpr std::array<unit, 4> units{{{"ms", 1}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}}};

int rank(std::int64_t unit_ms) {
    switch (unit_ms) {
        case 3'600'000:
            return 0;
        case 60'000:
            return 1;
        case 1'000:
            return 2;
        default:
            return 3;
    }
}

// A century is far beyond any sensible grace or interval and keeps now + duration far from the
// int64 millisecond range, so later arithmetic cannot overflow.
constexpr std::int64_t max_ms = std::int64_t{100} * 366 * 24 * 3'600'000;

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
    if (text.empty()) return std::nullopt;
    std::int64_t total = 0;
    int last_rank = -1;
    std::size_t i = 0;
    while (i < text.size()) {
        std::int64_t number = 0;
        const std::size_t digits_start = i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            number = number * 10 + (text[i] - '0');
            if (number > max_ms) return std::nullopt;
            ++i;
        }
        if (i == digits_start) return std::nullopt;
        const unit* found = nullptr;
        for (const auto& u : units) {
            if (text.substr(i, u.suffix.size()) == u.suffix) {
                found = &u;
                break;
            }
        }
        if (found == nullptr) return std::nullopt;
        i += found->suffix.size();
        const int r = rank(found->ms);
        if (r <= last_rank) return std::nullopt;
        last_rank = r;
        if (number > (max_ms - total) / found->ms) return std::nullopt;
        total += number * found->ms;
    }
    return std::chrono::milliseconds(total);
}

}  // namespace presence::common
