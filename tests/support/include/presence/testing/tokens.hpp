#pragma once
// Tokens for tests against brokers that load the presence plugin: minted with the checked-in
// development key, which the test brokers use unless a test gives another.

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

#include "presence/token/token.hpp"

namespace presence::testing {

// mosquitto-conf/insecure-dev-jwt.key: the development key (insecure by design, public).
std::filesystem::path dev_jwt_key_file();
// Its content.
std::string dev_jwt_key();

// A token for `user` signed with the development key (or `key`), valid for `ttl` from now
// (negative: already expired).
std::string mint_test_token(std::string_view user, token::role role = token::role::app,
                            std::chrono::seconds ttl = std::chrono::hours(1));
std::string mint_test_token(std::string_view key, std::string_view user, token::role role,
                            std::chrono::seconds ttl);

// The controller account tests use under plugin configs.
inline constexpr std::string_view controller_user = "presence-controller";

}  // namespace presence::testing
