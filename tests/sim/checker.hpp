#pragma once
// The invariants of the presence system, checked against a simulated world after every step and
// once more after convergence. A broken invariant throws violation with a readable message.

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>

#include "world.hpp"

namespace presence::sim {

// Thrown when an invariant does not hold; the driver prints it with the seed and the trace.
struct violation : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Inputs lost after their acknowledgement (crash model part 2). The ground truth keeps what the
// app did: a device whose join was lost is still truly joined, it wants in. The no-false-leave
// invariant is required during the run only of devices whose latest join was not lost, or was
// confirmed since (the app saw itself listed live in the retained snapshot): a member's leave
// while such a device's re-assertion is still on its way is the expected, temporary outcome of
// the loss. In its place, a lost join must heal within heal_bound() (the app's longest confirm
// delay plus the slack and a coalescing interval), and convergence still requires the engine to
// equal the truth. A lost leave likewise must heal within heal_bound() while the app is online
// (counted from its loss or its latest reconnect); the ghost bounds of such a pair count from the
// last instant the app was online to re-assert it (an app that went offline first cannot: the
// device then lingers like any dead connection, until its deadline).
// What the checker remembers between steps of one world: what subscribers have already seen.
class checker {
  public:
    // Invariants 1-6: revisions, snapshot consistency, no ghosts, no false leaves, well-formed
    // effects, lost joins and leaves heal in time. Call after every step.
    void after_step(const world& w);

    // After converge(): the engine and the retained store equal the ground truth exactly.
    void converged(const world& w) const;

  private:
    void check_batch(const world& w);
    void check_retained(const world& w) const;
    void check_ghosts(const world& w) const;
    void check_lost_inputs(const world& w) const;

    std::map<std::string, std::uint64_t> last_snapshot_;        // per party, as published
    std::map<std::string, std::uint64_t> last_event_;           // per party, as published
    std::map<std::string, std::string> last_snapshot_payload_;  // per party, as published
};

}  // namespace presence::sim
