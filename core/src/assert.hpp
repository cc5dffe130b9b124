#pragma once
// An assertion for broken invariants that stays on in every build type, unlike assert().

namespace presence::core::detail {

// Reports a broken invariant and aborts; a programmer error must never be silently continued.
[[noreturn]] void assert_fail(const char* expression, const char* message, const char* file,
                              int line) noexcept;

}  // namespace presence::core::detail

#define PRESENCE_ASSERT(condition, message) \
    ((condition) ? static_cast<void>(0)     \
                 : ::presence::core::detail::assert_fail(#condition, message, __FILE__, __LINE__))
