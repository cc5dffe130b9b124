#include "reject_log.hpp"

namespace presence::controller {

void reject_log::roll(clock::time_point now) {
    if (now - window_start_ >= std::chrono::seconds(1)) {
        window_start_ = now;
        logged_in_window_ = 0;
    }
}

bool reject_log::admit(clock::time_point now) {
    roll(now);
    if (logged_in_window_ < per_second_) {
        ++logged_in_window_;
        return true;
    }
    ++suppressed_;
    return false;
}

std::size_t reject_log::take_suppressed(clock::time_point now) {
    if (suppressed_ == 0 || now - window_start_ < std::chrono::seconds(1)) return 0;
    const std::size_t n = suppressed_;
    suppressed_ = 0;
    return n;
}

}  // namespace presence::controller
