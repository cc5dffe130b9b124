#include "presence/testing/tokens.hpp"

#include <stdexcept>

#include "presence/testing/broker.hpp"

namespace presence::testing {

std::filesystem::path dev_jwt_key_file() {
    return source_dir() / "mosquitto-conf" / "insecure-dev-jwt.key";
}

std::string dev_jwt_key() {
    auto key = token::read_key_file(dev_jwt_key_file().string());
    if (!key) throw std::runtime_error("cannot read " + dev_jwt_key_file().string());
    return *key;
}

std::string mint_test_token(std::string_view user, token::role role, std::chrono::seconds ttl) {
    return mint_test_token(dev_jwt_key(), user, role, ttl);
}

std::string mint_test_token(std::string_view key, std::string_view user, token::role role,
                            std::chrono::seconds ttl) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    return token::mint_token(key, user, now + ttl.count(), role);
}

}  // namespace presence::testing
