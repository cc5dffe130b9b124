#include "assert.hpp"

#include <cstdio>
#include <cstdlib>

namespace presence::core::detail {

void assert_fail(const char* expression, const char* message, const char* file, int line) noexcept {
    std::fprintf(stderr, "%s:%d: presence invariant broken: %s (%s)\n", file, line, message,
                 expression);
    std::fflush(stderr);
    std::abort();
}

}  // namespace presence::core::detail
