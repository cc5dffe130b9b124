#pragma once
// Controller configuration: command-line flags, optionally backed by a config file.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
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
    // Where GET /metrics and /healthz are served; http_enabled is false for "--http-listen off".
    bool http_enabled = true;
    std::string http_host = "127.0.0.1";
    std::uint16_t http_port = 9102;
    // Parties above coalesce_above members publish their snapshot at most once per
    // snapshot_interval (events still go out at once); 0 disables coalescing.
    core::duration snapshot_interval = std::chrono::milliseconds(100);
    std::size_t coalesce_above = 256;
    // QoS of the published snapshots, events and user records (queries are answered at QoS 1
    // whatever this says). 1: Paho resends what the broker did not acknowledge after a reconnect.
    // 0: no PUBACK and no kept copy per publish, so cheaper (docs/benchmarks.md); a publish still
    // in the socket when the connection to the broker breaks is lost until that party or user
    // changes again.
    int output_qos = 1;
    // Publish the JSON twin (<topic>/json) of every snapshot, event and user record.
    bool json_twins = true;
    // Backpressure: the controller stops taking input while this many publishes, or this many
    // bytes of topics and payloads, are pending (refused and kept, or held by Paho until the
    // broker acknowledges them), and resumes once both drained to half (docs/operations.md).
    std::size_t max_pending_publishes = 50'000;
    std::size_t max_pending_bytes = 64 * 1024 * 1024;
};

// A parsed --http-listen value: HOST:PORT, [IPV6]:PORT, or "off".
struct listen_address {
    bool enabled = true;
    std::string host;
    std::uint16_t port = 0;
};

// Parses --http-listen; nullopt when it is neither "off" nor HOST:PORT with a port of 1-65535.
std::optional<listen_address> parse_listen_address(std::string_view text);

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
