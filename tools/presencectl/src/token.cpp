// token: mints an access token (JWT HS256) that the mosquitto_presence plugin accepts, with the
// plugin's own token library, for scripts and operators who hold the key.
#include "presence/token/token.hpp"

#include <chrono>
#include <iostream>

#include "commands.hpp"
#include "error.hpp"
#include "presence/wire/wire.hpp"

namespace presence::ctl {

std::string mint_for(const std::string& key_file, const std::string& user, token::role granted,
                     std::chrono::seconds ttl) {
    const auto key = token::read_key_file(key_file);
    if (!key) throw failure(exit_usage, "cannot read the key file " + key_file);
    if (key->size() < token::min_key_bytes) {
        throw failure(exit_usage, "the key in " + key_file + " is shorter than " +
                                      std::to_string(token::min_key_bytes) +
                                      " bytes; the plugin refuses such keys");
    }
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::system_clock::now().time_since_epoch());
    return token::mint_token(*key, user, (now + ttl).count(), granted);
}

int run_token(const token_options& opts) {
    if (!wire::valid_identifier(opts.user)) {
        throw failure(exit_usage,
                      "bad user id '" + opts.user + "': ids are 1-64 characters of [A-Za-z0-9._-]");
    }
    const auto role = token::parse_role(opts.role);
    if (!role) throw failure(exit_usage, "--role must be app, controller or observer");
    if (opts.ttl.count() <= 0) throw failure(exit_usage, "--ttl must be positive");
    std::cout << mint_for(opts.key_file, opts.user, *role, opts.ttl) << '\n';
    return exit_ok;
}

}  // namespace presence::ctl
