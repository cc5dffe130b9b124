// presence_sim: runs seeded worlds of flapping devices against the real engine and codec, checks
// the invariants after every step and convergence at the end, and prints how to reproduce a
// failure.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <exception>
#include <iostream>
#include <random>
#include <string>

#include "checker.hpp"
#include "world.hpp"

namespace {

using presence::sim::checker;
using presence::sim::sim_config;
using presence::sim::sim_stats;
using presence::sim::world;

// Runs one seed; returns the failure message, empty when every invariant held.
std::string run_seed(const sim_config& config, sim_stats& total) {
    world w(config);
    checker check;
    std::string failure;
    try {
        for (int i = 0; i < config.steps; ++i) {
            w.step(true);
            check.after_step(w);
        }
        w.converge([&] { check.after_step(w); });
        check.converged(w);
    } catch (const std::exception& e) {
        failure = e.what();
    }
    total += w.stats();
    if (!failure.empty() && !config.quiet_failures) {
        std::cout << "VIOLATION (seed " << config.seed << "): " << failure << '\n'
                  << "reproduce with: presence_sim --seed=" << config.seed
                  << " --steps=" << config.steps
                  << (config.reorder_device_connections ? " --reorder-device-connections" : "")
                  << (config.plugin ? " --plugin" : "")
                  << (config.crash_redelivery ? "" : " --no-crash-redelivery")
                  << (config.lost_after_ack ? "" : " --no-lost-after-ack")
                  << (config.census ? "" : " --no-census") << " --verbose\n"
                  << "last events:\n";
        for (const auto& line : w.trace_lines()) std::cout << "  " << line << '\n';
    }
    return failure;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Deterministic simulation of mqtt-presence"};
    std::uint64_t seeds = 1;
    std::uint64_t first_seed = 1;
    std::uint64_t one_seed = 0;
    bool random_seed = false;
    bool expect_violation = false;
    std::string inject = "none";
    sim_config config;
    app.add_option("--seeds", seeds, "How many seeds to run");
    app.add_option("--first-seed", first_seed, "The first seed");
    app.add_option("--seed", one_seed, "Run exactly this seed");
    app.add_option("--steps", config.steps, "Fault-phase steps per seed");
    app.add_flag("--random", random_seed, "Run one random seed (printed first)");
    app.add_flag("--verbose", config.verbose, "Print every trace line");
    app.add_flag("!--no-crash-redelivery", config.crash_redelivery,
                 "Do not redeliver a crashed controller's unacked messages");
    app.add_flag("!--no-lost-after-ack", config.lost_after_ack,
                 "Never lose an input the broker acknowledged to a crashing controller");
    app.add_flag("!--no-census", config.census,
                 "Plugin mode: no connection census after a controller restart (self-test)");
    app.add_flag("--reorder-device-connections", config.reorder_device_connections,
                 "Let a device's publishes from different connections reorder (not MQTT-like)");
    app.add_flag("--plugin", config.plugin,
                 "The broker runs the presence plugin: lifecycle events, clean disconnects "
                 "without will, broker crashes");
    app.add_option("--inject", inject,
                   "Plant a controller fault: none, drop_will, drop_close (plugin mode) or "
                   "drop_reassert (ignore the joins apps re-assert)")
        ->check(CLI::IsMember({"none", "drop_will", "drop_close", "drop_reassert"}));
    app.add_flag("--expect-violation", expect_violation,
                 "Succeed only if the checker reports a violation (checker self-test)");
    CLI11_PARSE(app, argc, argv);

    if (inject == "drop_will") config.fault = presence::sim::injected_fault::drop_will;
    if (inject == "drop_close") config.fault = presence::sim::injected_fault::drop_close;
    if (inject == "drop_reassert") config.fault = presence::sim::injected_fault::drop_reassert;
    config.quiet_failures = expect_violation;
    if (one_seed != 0) {
        first_seed = one_seed;
        seeds = 1;
    }
    if (random_seed) {
        std::random_device device;
        first_seed = (std::uint64_t{device()} << 32) | device();
        seeds = 1;
        std::cout << "random seed: " << first_seed
                  << " (reproduce with: presence_sim --seed=" << first_seed
                  << " --steps=" << config.steps << (config.plugin ? " --plugin" : "")
                  << (config.lost_after_ack ? "" : " --no-lost-after-ack") << ")" << std::endl;
    }

    sim_stats total;
    std::uint64_t failures = 0;
    std::string first_failure;
    for (std::uint64_t i = 0; i < seeds; ++i) {
        config.seed = first_seed + i;
        auto failure = run_seed(config, total);
        if (failure.empty()) continue;
        if (failures++ == 0) first_failure = "seed " + std::to_string(config.seed) + ": " + failure;
    }
    std::cout << "presence_sim: seeds=" << seeds << " first=" << first_seed
              << " steps=" << total.steps << " messages=" << total.messages
              << " restarts=" << total.restarts << " takeovers=" << total.takeovers
              << " duplicates=" << total.duplicates << " drops=" << total.drops
              << " wills=" << total.wills << " lifecycle_events=" << total.lifecycle_events
              << " clean_disconnects=" << total.clean_disconnects
              << " broker_crashes=" << total.broker_crashes
              << " lost_after_ack=" << total.lost_after_ack << " reasserts=" << total.reasserts
              << " max_members=" << total.max_members << " failures=" << failures << '\n';
    if (expect_violation) {
        if (failures == 0) {
            std::cout << "checker self-test FAILED: the injected fault went unnoticed\n";
            return 1;
        }
        std::cout << "checker self-test passed: " << failures << "/" << seeds
                  << " seeds caught the injected fault; first: " << first_failure << '\n';
        return 0;
    }
    return failures == 0 ? 0 : 1;
}
