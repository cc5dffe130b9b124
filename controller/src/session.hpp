#pragma once
// The controller's main MQTT connection (MQTT 5): persistent session, Last Will, automatic
// reconnect, queries in and replies out.

#include <mqtt/async_client.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>

#include "backpressure.hpp"
#include "metrics.hpp"
#include "presence/controller/config.hpp"
#include "presence/wire/wire.hpp"

namespace presence::controller {

// Where the controller announces whether it is running; retained, and set to "offline" by the
// Last Will when the process dies.
inline constexpr std::string_view status_topic = "presence/controller/status";

// Owns the Paho client of the persistent session. Inbound messages arrive through the consumer
// queue, read by the one thread that drives the engine; Paho's own thread only subscribes,
// announces "online" on every (re)connect and reports finished publishes, without waiting for
// anything.
//
// Output is never dropped for being slow: a publish Paho refuses for a passing reason is kept
// (with everything published after it, in order) and retried after a short backoff, and the
// loop stops taking input while the pending output (kept, plus what Paho holds until the broker
// acknowledges it) is above --max-pending-publishes or --max-pending-bytes, until it drains to
// half of each (backpressure.hpp).
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
    // correlation data property (a query reply) unless it is empty. A message Paho refuses for a
    // passing reason is kept for retry(); one it can never send is logged, counted and dropped.
    // Never throws for a refusal.
    void publish(wire::outbound message, int qos, std::string correlation_data = {});

    // Tries the kept publishes again, in order, once their backoff has passed.
    void retry(std::chrono::steady_clock::time_point now);
    // When retry() has work next; nullopt when no publish is kept.
    std::optional<std::chrono::steady_clock::time_point> next_retry() const;

    // Whether the loop must stop taking input: pending output reached a high-water mark and has
    // not yet drained to the low one. Counts each new pause.
    bool input_paused();
    // Sleeps up to `timeout`, waking early once Paho's completions brought the pending output
    // down to the low-water mark, so a paused loop neither spins nor oversleeps.
    void wait_for_drain(std::chrono::milliseconds timeout);
    // At shutdown: retries the kept publishes and waits for Paho's completions, up to `timeout`.
    void drain(std::chrono::milliseconds timeout);

    // The publish path's counters and gauges, for /metrics and the stats topic.
    outbound_stats outbound() const;

    // Whether the connection to the broker is up right now (for the health endpoint).
    bool connected() const;
    // How many times the session has connected (1 + reconnects), for metrics.
    std::uint64_t connects() const { return connects_.load(); }
    // True when the session is stuck in a reconnect loop: wedged_after connections in a row
    // ended within short_connection of their start. Seen after a broker restart cut a burst of
    // the controller's QoS 1 publishes: the broker then refused every reconnect of the resumed
    // MQTT 5 session ("malformed packet", then "protocol error") until the process restarted
    // (docs/operations.md, "The controller exits when its session is wedged"). The loop exits
    // on it, so a supervisor restarts the controller, which restores from the broker.
    bool wedged() const { return short_connections_.load() >= wedged_after; }
    static constexpr int wedged_after = 3;
    static constexpr auto short_connection = std::chrono::seconds(3);

    // Publishes the retained "offline" status and disconnects cleanly (the will is not sent).
    void shutdown();

  private:
    // Paho calls it when a publish is done (acknowledged at QoS 1, written at QoS 0) or failed;
    // the token's user context carries the bytes that publish added to the pending load.
    class delivery_listener : public mqtt::iaction_listener {
      public:
        explicit delivery_listener(session& owner) : owner_(owner) {}
        void on_success(const mqtt::token& tok) override;
        void on_failure(const mqtt::token& tok) override;

      private:
        session& owner_;
    };

    struct kept_publish {
        wire::outbound message;
        int qos = 1;
        std::string correlation_data;
    };

    enum class handed { accepted, refused, dropped };

    void on_connected(const std::string& cause);
    handed hand_over(const kept_publish& p);
    void completed(const mqtt::token& tok, bool failed);
    pending_load load() const;
    // Waits until Paho holds at most this much, or until `until`.
    void wait_in_client(std::size_t publishes, std::size_t bytes,
                        std::chrono::steady_clock::time_point until);

    const config& cfg_;

    // Shared with Paho's threads: what Paho holds, and the drain wake-up. Declared before the
    // client, so they outlive every callback it can still make while it is destroyed.
    std::atomic<std::size_t> in_client_publishes_{0};
    std::atomic<std::size_t> in_client_bytes_{0};
    std::atomic<std::uint64_t> failed_{0};
    std::atomic<bool> drain_waiting_{false};
    std::atomic<std::size_t> drain_target_publishes_{0};
    std::atomic<std::size_t> drain_target_bytes_{0};
    std::mutex drain_mutex_;
    std::condition_variable drained_;
    delivery_listener listener_{*this};

    mqtt::async_client client_;
    std::atomic<std::uint64_t> connects_{0};
    std::atomic<bool> connected_{false};
    // Steady-clock time of the last connect (ns since its epoch) and the count of connections in
    // a row that ended within short_connection of it; see wedged().
    std::atomic<std::int64_t> connected_at_ns_{0};
    std::atomic<int> short_connections_{0};
    void on_lost();

    // Loop thread only.
    std::deque<kept_publish> kept_;
    std::size_t kept_bytes_ = 0;
    retry_backoff backoff_;
    watermark gate_;
    std::uint64_t refusals_in_a_row_ = 0;
    std::chrono::steady_clock::time_point paused_since_{};
    std::uint64_t published_ = 0;
    std::uint64_t refusals_ = 0;
    std::uint64_t dropped_ = 0;
};

}  // namespace presence::controller
