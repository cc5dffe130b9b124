#pragma once
// The subcommands of presencectl. Each returns an exit code (see error.hpp) or throws failure.

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "presence/token/token.hpp"

namespace presence::ctl {

// Flags every subcommand shares.
struct common_options {
    std::string broker = "127.0.0.1:1883";
    std::string username = "presencectl";  // the user id the tool connects as
    std::string client_id;                 // default: presencectl-<pid>
    std::optional<std::string> password;   // from --password, --password-file or --token-file
    std::chrono::milliseconds timeout{5000};
    bool json = false;
};

// Set by SIGINT/SIGTERM; long-running commands (watch, simulate) stop when it turns true.
extern std::atomic<bool> stop_requested;

struct watch_options {
    std::string party;
    int count = 0;  // stop after this many messages; 0 = until Ctrl-C
    std::optional<std::chrono::milliseconds> duration;
};
int run_watch(const common_options& common, const watch_options& opts);

int run_who(const common_options& common, const std::vector<std::string>& users);
int run_where(const common_options& common, const std::string& user);
int run_members(const common_options& common, const std::string& party);

struct simulate_options {
    std::string party = "demo";
    int devices = 5;
    bool churn = false;
    std::string prefix = "sim";  // users <prefix>1..N, devices <prefix>1-dev
    std::chrono::milliseconds churn_interval{2000};
    std::optional<std::chrono::milliseconds> duration;  // default: until Ctrl-C
    std::optional<std::string> key_file;  // mint each device's token with this JWT key
    unsigned seed = 0;
};
int run_simulate(const common_options& common, const simulate_options& opts);

struct token_options {
    std::string key_file;
    std::string user;
    std::string role = "app";
    std::chrono::seconds ttl{24 * 3600};
};
int run_token(const token_options& opts);

// A token of role `granted` for `user`, signed with the key in `key_file`, valid for `ttl`.
// Throws failure(exit_usage) when the key cannot be read or is too short.
std::string mint_for(const std::string& key_file, const std::string& user, token::role granted,
                     std::chrono::seconds ttl);

}  // namespace presence::ctl
