// Fuzzes token verification: any bytes as the MQTT password must yield a refusal (or, for a
// validly signed token, claims that match the username), never a crash.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "presence/token/token.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::string key = "fuzz-key-0123456789abcdef0123456789abcdef";
    const std::string_view token(reinterpret_cast<const char*>(data), size);
    const auto v = presence::token::verify(key, token, "alice", 1'700'000'000);
    if (v.ok() && (v.granted.subject != "alice" || v.granted.expires_s <= 1'700'000'000)) {
        __builtin_trap();
    }
    (void)presence::token::to_string(v.why);
    return 0;
}
