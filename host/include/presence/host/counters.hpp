#pragma once
// The counters the host keeps: what arrived, what the engine did with it, what was rejected and
// why, what was published. The controller adds its timing and renders them (stats topic,
// /metrics); the host only counts.

#include <array>
#include <cstddef>
#include <cstdint>

#include "presence/core/engine.hpp"
#include "presence/host/query.hpp"
#include "presence/wire/query.hpp"
#include "presence/wire/wire.hpp"

namespace presence::host {

inline constexpr std::size_t inbound_kind_count = 10;  // wire::inbound_kind values
inline constexpr std::size_t outcome_count = 4;       // core::outcome values
inline constexpr std::size_t error_count = 8;         // wire::error values, ok included

inline constexpr std::size_t event_kind_count = 5;    // core::event_kind values
inline constexpr std::size_t leave_reason_count = 3;  // core::leave_reason values

static_assert(static_cast<std::size_t>(wire::inbound_kind::broker_census) + 1 ==
              inbound_kind_count);
static_assert(static_cast<std::size_t>(wire::error::identity_mismatch) + 1 == error_count);

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
    std::uint64_t broker_epoch_changes = 0;  // reconciliations after a new broker epoch
    std::uint64_t reconciled_devices = 0;    // live devices they sent reconnecting
    // Queries answered, per kind and status; the last kind row counts payloads that named no
    // query ("unknown"). Dropped queries (no answer at all) are counted per cause.
    std::array<std::array<std::uint64_t, wire::query_status_count>, wire::query_kind_count + 1>
        queries{};
    std::array<std::uint64_t, query_drop_count> queries_dropped{};
    // Party events published, per kind; members that left, per reason.
    std::array<std::uint64_t, event_kind_count> events{};
    std::array<std::uint64_t, leave_reason_count> leaves{};
    std::uint64_t coalesced_snapshots = 0;  // big-party snapshots published late by the coalescer
    // Restore: durable records read, public snapshots and user records republished because the
    // retained copy differed from the restored truth, parties raised to the revision seed.
    std::uint64_t restored_records = 0;
    std::uint64_t restore_republished = 0;
    // Publishes of the full state after a new broker epoch (a broker restart may have come back
    // from an older autosave, so its retained copies can be stale).
    std::uint64_t epoch_republished = 0;

    // Counts one decoded input and what the engine did with it.
    void count(wire::inbound_kind kind, core::outcome o) {
        ++inbound[static_cast<std::size_t>(kind)];
        ++outcomes[static_cast<std::size_t>(kind)][static_cast<std::size_t>(o)];
    }
    // Counts one rejected input.
    void count(wire::error e) { ++rejected[static_cast<std::size_t>(e)]; }
    // Counts one published party event.
    void count(const core::party_event& e) {
        ++events[static_cast<std::size_t>(e.kind)];
        if (e.kind == core::event_kind::left) ++leaves[static_cast<std::size_t>(e.reason)];
    }
    // Counts one query: answered (per kind and status) or dropped (per cause).
    void count(const query_answer& a) {
        if (a.drop != query_drop::none) {
            ++queries_dropped[static_cast<std::size_t>(a.drop)];
            return;
        }
        const auto kind = a.kind ? static_cast<std::size_t>(*a.kind) : wire::query_kind_count;
        ++queries[kind][static_cast<std::size_t>(a.status) - 1];
    }
};

}  // namespace presence::host
