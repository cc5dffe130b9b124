#pragma once
// Rate limit for the warn lines of rejected input, so a flood of garbage cannot flood the log.

#include <chrono>
#include <cstddef>

namespace presence::controller {

// Admits at most `per_second` lines per one-second window and counts the rest, so the log shows
// the first rejections in full and then one "suppressed N" summary per window.
class reject_log {
  public:
    using clock = std::chrono::steady_clock;

    explicit reject_log(std::size_t per_second = 20) : per_second_(per_second) {}

    // Whether a rejection seen at `now` may be logged; counts it as suppressed when not.
    bool admit(clock::time_point now);

    // The number of rejections suppressed in windows that have ended by `now`, reported once.
    std::size_t take_suppressed(clock::time_point now);

  private:
    void roll(clock::time_point now);

    std::size_t per_second_;
    clock::time_point window_start_{};
    std::size_t logged_in_window_ = 0;
    std::size_t suppressed_ = 0;
};

}  // namespace presence::controller
