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

// What the checker remembers between steps of one world: what subscribers have already seen.
class checker {
  public:
    // Invariants 1-5: revisions, snapshot consistency, no ghosts, no false leaves, well-formed
    // effects. Call after every step.
    void after_step(const world& w);

    // After converge(): the engine and the retained store equal the ground truth exactly.
    void converged(const world& w) const;

  private:
    void check_batch(const world& w);
    void check_retained(const world& w) const;
    void check_ghosts(const world& w) const;

    std::map<std::string, std::uint64_t> last_snapshot_;        // per party, as published
    std::map<std::string, std::uint64_t> last_event_;           // per party, as published
    std::map<std::string, std::string> last_snapshot_payload_;  // per party, as published
};

}  // namespace presence::sim
