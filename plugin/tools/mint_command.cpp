// The token-minting command behind presence-token and `presencectl token`.
#include "mint_command.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>

#include "presence/common/duration.hpp"
#include "presence/token/token.hpp"

namespace presence::token {

namespace {

// Whole seconds from "3600" (the historical form of presence-token) or a duration ("1h").
std::optional<std::int64_t> ttl_seconds(const std::string& text) {
    if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos &&
        text.size() <= 12) {
        return std::stoll(text);
    }
    const auto d = common::parse_duration(text);
    if (!d) return std::nullopt;
    return std::chrono::duration_cast<std::chrono::seconds>(*d).count();
}

}  // namespace

void add_mint_options(CLI::App& command, mint_options& options) {
    command.add_option("--key-file", options.key_file, "File holding the shared HS256 key")
        ->required();
    command
        .add_option("--sub,--user", options.user,
                    "The user id the token is for (its subject = the MQTT username)")
        ->required();
    command.add_option("--role", options.role, "The role claim: app, controller or observer (read-only operator tools)")
        ->capture_default_str();
    command.add_option("--ttl", options.ttl, "Validity: seconds (3600) or a duration (1h, 24h)")
        ->capture_default_str();
}

int run_mint(const mint_options& options, std::ostream& out, std::ostream& err,
             std::string_view program) {
    const auto role = parse_role(options.role);
    if (!role) {
        err << program << ": unknown --role '" << options.role << "' (app, controller or observer)\n";
        return 2;
    }
    const auto ttl = ttl_seconds(options.ttl);
    if (!ttl || *ttl <= 0) {
        err << program
            << ": --ttl must be a positive number of seconds or a duration such as "
               "1h, not '"
            << options.ttl << "'\n";
        return 2;
    }
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    try {
        out << mint_from_key_file(options.key_file, options.user, *role, *ttl, now) << '\n';
    } catch (const mint_error& e) {
        err << program << ": " << e.what() << '\n';
        return 2;
    } catch (const std::exception& e) {
        err << program << ": " << e.what() << '\n';
        return 1;
    }
    return 0;
}

}  // namespace presence::token
