#pragma once
// Reading the retained snapshots and user records back at start, so a restart loses nothing.

#include <atomic>
#include <optional>
#include <vector>

#include "presence/controller/config.hpp"
#include "presence/core/types.hpp"

namespace presence::controller {

// What the broker held: users and parties to hand to engine::restore, users first.
struct retained_state {
    std::vector<core::user_presence> users;
    std::vector<core::party_snapshot> parties;
    std::size_t rejected = 0;  // retained messages that did not decode or did not match the topic
    bool complete = false;     // false when --restore-timeout passed before the sync marker came
};

// Reads every retained snapshot and user record through a short-lived client
// ("<client-id>.restore"), using a published marker to know that all of them have arrived.
// Returns nullopt when stopped before the broker could be reached.
std::optional<retained_state> fetch_retained_state(const config& cfg,
                                                   const std::atomic<bool>& stop);

}  // namespace presence::controller
