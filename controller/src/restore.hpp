#pragma once
// Reading the retained snapshots and user records back at start, so a restart loses nothing.

#include <atomic>
#include <optional>
#include <vector>

#include "presence/controller/config.hpp"
#include "presence/host/host.hpp"

namespace presence::controller {

// What the broker held, undecoded: the host decides what it means (host::restore).
struct retained_state {
    std::vector<host::retained_message> messages;
    bool complete = false;  // false when --restore-timeout passed before the sync marker came
};

// Reads every retained snapshot, user record and controller-private record (with their JSON
// twins, so the host can tell a missing twin) through a short-lived client
// ("<client-id>.restore"), using a published marker to know that all of them have arrived.
// Returns nullopt when stopped before the broker could be reached.
std::optional<retained_state> fetch_retained_state(const config& cfg,
                                                   const std::atomic<bool>& stop);

}  // namespace presence::controller
