#pragma once
// The engine's clock: wall time at start plus steady time since, at millisecond precision.

#include <chrono>

#include "presence/core/types.hpp"

namespace presence::controller {

// Gives the engine instants that never go backwards within a run (steady clock) yet are real
// wall-clock times, because grace deadlines are published and must survive a restart.
class engine_clock {
  public:
    engine_clock()
        : wall_start_(std::chrono::floor<core::duration>(std::chrono::system_clock::now())),
          steady_start_(std::chrono::steady_clock::now()) {}

    // The current engine time.
    core::time_point now() const {
        return wall_start_ + std::chrono::duration_cast<core::duration>(
                                 std::chrono::steady_clock::now() - steady_start_);
    }

  private:
    core::time_point wall_start_;
    std::chrono::steady_clock::time_point steady_start_;
};

}  // namespace presence::controller
