#pragma once
// The controller's main MQTT connection (MQTT 5): persistent session, Last Will, automatic
// reconnect, queries in and replies out.

#include <mqtt/async_client.h>

#include <atomic>
#include <deque>
#include <memory>
#include <optional>

#include "presence/controller/config.hpp"
#include "presence/wire/wire.hpp"

namespace presence::controller {

// Where the controller announces whether it is running; retained, and set to "offline" by the
// Last Will when the process dies.
inline constexpr std::string_view status_topic = "presence/controller/status";

// Owns the Paho client of the persistent session. Inbound messages arrive through the consumer
// queue, read by the one thread that drives the engine; Paho's own thread only subscribes and
// announces "online" on every (re)connect, without waiting for anything.
class session {
  public:
    explicit session(const config& cfg);
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    // Connects, retrying until it works; false when stopped first.
    bool connect(const std::atomic<bool>& stop);

    // Waits up to `wait` for the next inbound message. nullopt on timeout; a null pointer when
    // the connection was lost (Paho reconnects by itself).
    std::optional<mqtt::const_message_ptr> next(std::chrono::milliseconds wait);

    // Publishes without waiting for the acknowledgement, so publishes pipeline; with an MQTT 5
    // correlation data property (a query reply) unless it is empty.
    // Throws mqtt::exception when Paho refuses the message (e.g. its offline buffer is full).
    void publish(const wire::outbound& message, int qos, const std::string& correlation_data = {});

    // Whether the connection to the broker is up right now (for the health endpoint).
    bool connected() const;
    // How many times the session has connected (1 + reconnects), for metrics.
    std::uint64_t connects() const { return connects_.load(); }

    // Publishes the retained "offline" status and disconnects cleanly (the will is not sent).
    void shutdown();

  private:
    void on_connected(const std::string& cause);

    const config& cfg_;
    mqtt::async_client client_;
    std::atomic<std::uint64_t> connects_{0};
    std::atomic<bool> connected_{false};
};

}  // namespace presence::controller
