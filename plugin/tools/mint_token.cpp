// presence-token: prints a signed token (JWT HS256) that the mosquitto_presence plugin accepts
// as the MQTT password of `--sub`, for scripts, operators and tests.

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>

#include "presence/token/token.hpp"

int main(int argc, char** argv) {
    CLI::App app{"Mint an mqtt-presence access token (JWT HS256)"};
    std::string key_file;
    std::string sub;
    std::string role = "app";
    std::int64_t ttl_s = 3600;
    app.add_option("--key-file", key_file, "File holding the shared HS256 key")->required();
    app.add_option("--sub", sub, "The user id (= MQTT username) the token is for")->required();
    app.add_option("--role", role, "app, controller or observer (read-only operator tools)")
        ->check(CLI::IsMember({"app", "controller", "observer"}));
    app.add_option("--ttl", ttl_s, "Seconds until the token expires")->check(CLI::PositiveNumber);
    CLI11_PARSE(app, argc, argv);

    const auto key = presence::token::read_key_file(key_file);
    if (!key || key->empty()) {
        std::cerr << "presence-token: cannot read key file " << key_file << "\n";
        return 2;
    }
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    try {
        std::cout << presence::token::mint_token(*key, sub, now + ttl_s,
                                                 *presence::token::parse_role(role))
                  << "\n";
    } catch (const std::exception& e) {
        std::cerr << "presence-token: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
