#pragma once
// The presence controller's run loop: connects to the broker, restores state from retained
// messages, then feeds inbound messages to the engine on one thread and publishes its effects.

#include <atomic>

#include "presence/controller/config.hpp"

namespace presence::controller {

// Runs until `stop` becomes true (set by the SIGINT/SIGTERM handler). Returns the process exit
// code: 0 after a clean shutdown, non-zero when the broker could not be used at all.
int run(const config& cfg, const std::atomic<bool>& stop);

}  // namespace presence::controller
