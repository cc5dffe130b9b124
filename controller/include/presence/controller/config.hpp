#pragma once
// Controller configuration: command-line flags, optionally backed by a config file.

#include <string>
#include <vector>

#include "presence/core/types.hpp"

namespace presence::controller {

// Everything presence-controller can be told. Defaults suit the local development broker.
struct config {
    std::string broker = "tcp://127.0.0.1:1883";
    std::string client_id = "presence-controller";  // fixed: the persistent session's identity
    std::string username;                           // empty: connect anonymously
    std::string password;
    std::string password_file;  // read the password from this file (first line) instead
    core::duration grace = std::chrono::minutes(2);
    std::string log_level = "info";
    std::size_t max_payload_bytes = 16 * 1024;
    core::duration restore_timeout = std::chrono::seconds(10);
    core::duration stats_interval = std::chrono::seconds(10);  // 0 disables the stats topic
    // Parties above coalesce_above members publish their snapshot at most once per
    // snapshot_interval (events still go out at once); 0 disables coalescing.
    core::duration snapshot_interval = std::chrono::milliseconds(100);
    std::size_t coalesce_above = 256;
};

// Result of parsing the command line: either a config, or an exit code plus a message to print
// (help text, version, or a clear error naming the bad value).
struct parse_result {
    config cfg;
    bool exit = false;
    int exit_code = 0;
    std::string message;
};

// Parses argv (flags and an optional --config FILE in INI/TOML form with the same keys).
parse_result parse_args(int argc, const char* const* argv);

}  // namespace presence::controller
