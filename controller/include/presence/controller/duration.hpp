#pragma once
// Human durations for flags: "120s", "2m", "1500ms", "1h", "1m30s". A bare number is rejected so
// that nobody has to guess the unit.

#include <optional>
#include <string_view>

#include "presence/core/types.hpp"

namespace presence::controller {

// Parses a duration; nullopt when the text is not a valid, non-negative duration.
std::optional<core::duration> parse_duration(std::string_view text);

}  // namespace presence::controller
