#pragma once
// Human durations for flags: "120s", "2m", "1500ms", "1h", "1m30s". A bare number is rejected so
// that nobody has to guess the unit.

#include <chrono>
#include <optional>
#include <string_view>

namespace presence::common {

// Parses a duration; nullopt when the text is not a valid, non-negative duration.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace presence::common
