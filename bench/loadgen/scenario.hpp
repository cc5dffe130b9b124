#pragma once
// One benchmark run: starts mosquitto (the project's dev config on a free port) and the real
// presence-controller, connects simulated devices and observers on one epoll loop, drives the
// churn model, measures latency against a raw publish -> deliver hop in the same run, checks the
// final retained snapshots against ground truth, and returns the figures as JSON.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "report.hpp"

namespace presence::bench {

// What one run does. Scenario presets (main.cpp) fill it in; flags override.
struct run_config {
    std::string name = "steady";
    int devices = 10000;
    int parties = 2000;
    int big_party_members = 0;  // devices [0, n) always use party p0 (the big party)
    double rate = 1000;         // membership changes per second in the measured window
    std::vector<double> rate_steps;  // when set: one window per rate (the max scenario)
    // When set: after the presence windows, one window per rate of raw publish -> deliver hops
    // alone (no churn): the broker's own ceiling with this client stack, in the same run.
    std::vector<double> raw_rate_steps;
    double window_s = 30;
    double hold_s = 0;               // connections: hold everything connected this long, idle
    double drop_share = 0.02;        // of changes: socket dies, reconnect within grace
    double airplane_share = 0.01;    // of changes: silent socket, reconnect later
    int keepalive_s = 10;
    std::string grace = "2m";
    std::string snapshot_interval;  // passed as --snapshot-interval when set
    std::string coalesce_above;     // passed as --coalesce-above when set
    double raw_rate = 200;          // raw-hop probes per second, during the window
    double kill_at_s = -1;          // faults: kill -9 the controller this far into the window
    double down_s = 2;              // faults: restart it after this long
    // faults: stop issuing changes this long before the kill and until the restarted controller
    // is online, so no change is in flight when it dies (the smoke test's deterministic variant;
    // 0 = kill under load).
    double quiesce_s = 0;
    double join_rate = 5000;        // ramp: initial joins per second
    std::uint64_t seed = 1;
    std::filesystem::path controller_bin;
    std::filesystem::path work_dir;  // logs and broker state
    bool verify = true;
    // Extra broker config lines appended to the shipped dev config, for experiments
    // (e.g. "max_inflight_messages 1000"); reported in the results.
    std::vector<std::string> broker_lines;
    // Also count a change visible when a snapshot shows it (costs a decode per snapshot of a
    // party with a pending change); events alone otherwise.
    bool snapshot_visibility = false;
    // Extra presence-controller flags (e.g. "--output-qos", "0"), reported in the results.
    std::vector<std::string> controller_args;
};

// Runs the scenario; the result is the JSON written to <name>.json. `ok` is false when the
// harness could not measure what it claims (lost joins, ghosts, false leaves).
struct run_result {
    json_object json;
    bool ok = true;
    std::vector<std::string> problems;
    std::vector<double> latency_us;  // join/leave -> visible, measured window
    std::vector<double> raw_us;      // raw hop, measured window
    // Joins and leaves published again because they were not visible after 5 s (10 s, ... 60 s),
    // the changes that needed it, and the joins re-asserted after reconnects (whole run), and the
    // re-asserts of the ramp's initial joins (a backlog at the ramp's rate, not a loss).
    std::uint64_t reasserts = 0, changes_reasserted = 0, rejoins_after_reconnect = 0;
    std::uint64_t ramp_reasserts = 0;
};
run_result run_scenario(const run_config& cfg);

}  // namespace presence::bench
