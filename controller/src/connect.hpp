#pragma once
// Connection settings and the start-up retry shared by the restore client and the main session.

#include <mqtt/async_client.h>

#include <atomic>
#include <string_view>

#include "presence/controller/config.hpp"

namespace presence::controller {

// MQTT 3.1.1 options with the configured credentials; callers add session-specific settings.
mqtt::connect_options_builder base_connect_options(const config& cfg);

// Connects, retrying with a 1 s .. 10 s backoff and a warn line per failed attempt, because a
// broker that is down at start is expected to come back. Returns false when stopped first.
bool connect_with_backoff(mqtt::async_client& client, const mqtt::connect_options& options,
                          const std::atomic<bool>& stop, std::string_view what);

// Waits for a token, giving up when `stop` is set or `timeout` passes; true when it completed.
// Throws mqtt::exception when the operation failed.
bool wait_token(const mqtt::token_ptr& token, const std::atomic<bool>& stop,
                std::chrono::milliseconds timeout);

// Turns Nagle off on every TCP socket of the process. Paho has no option for it, and with Nagle
// on, a publish queued behind our own unacknowledged PUBACK waits for the broker's delayed ACK
// (about 40 ms per change). The controller's only TCP sockets are its MQTT connections.
void disable_nagle_on_tcp_sockets();

}  // namespace presence::controller
