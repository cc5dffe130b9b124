#pragma once
// The controller's counters and their JSON form for presence/controller/stats.

#include <array>
#include <cstdint>
#include <string>

#include "presence/core/engine.hpp"
#include "presence/wire/wire.hpp"

namespace presence::controller {

inline constexpr std::size_t inbound_kind_count = 6;  // wire::inbound_kind values
inline constexpr std::size_t outcome_count = 4;       // core::outcome values
inline constexpr std::size_t error_count = 7;         // wire::error values, ok included

// Everything the controller counts, so operators and integration tests can see what happened to
// the input (how much arrived, what it did, what was rejected and why) without reading logs.
struct counters {
    std::array<std::uint64_t, inbound_kind_count> inbound{};
    std::array<std::array<std::uint64_t, outcome_count>, inbound_kind_count> outcomes{};
    std::array<std::uint64_t, error_count> rejected{};
    std::uint64_t published = 0;
    std::uint64_t publish_errors = 0;
    std::uint64_t grace_expiries = 0;  // members that left with reason timeout
    std::uint64_t restored_users = 0;
    std::uint64_t restored_parties = 0;
    std::uint64_t restore_rejected = 0;
    std::uint64_t connection_lost = 0;
    std::uint64_t coalesced_snapshots = 0;  // big-party snapshots published late by the coalescer

    // Counts one decoded input and what the engine did with it.
    void count(wire::inbound_kind kind, core::outcome o) {
        ++inbound[static_cast<std::size_t>(kind)];
        ++outcomes[static_cast<std::size_t>(kind)][static_cast<std::size_t>(o)];
    }
    // Counts one rejected input.
    void count(wire::error e) { ++rejected[static_cast<std::size_t>(e)]; }
};

// One flat JSON object: inbound_<kind>, outcome_<outcome>, outcome_<kind>_<outcome>,
// rejected_<reason>, the other counters, and the engine gauges.
std::string to_json(const counters& c, const core::engine_stats& s);

// A one-line summary for the log.
std::string summary(const counters& c, const core::engine_stats& s);

}  // namespace presence::controller
