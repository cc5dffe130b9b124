#pragma once
// The simulation's random generator is the project's one seeded generator (xoshiro256** seeded
// through splitmix64, presence/common/rng.hpp), so a seed means the same run everywhere.

#include "presence/common/rng.hpp"

namespace presence::sim {

using rng = common::rng;

}  // namespace presence::sim
