#pragma once
// The publish path's flow control, kept free of Paho so each rule can be tested alone: how much
// output is pending, when the controller stops taking input (high-water mark) and takes it again
// (low-water mark), when a refused publish is tried again, and which refusals are worth retrying.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace presence::controller {

// Output handed to the session but not yet completed: refused publishes waiting for their next
// try, plus the publishes Paho holds (buffered or in flight) until the broker acknowledged them
// (QoS 1) or they were written (QoS 0).
struct pending_load {
    std::size_t publishes = 0;
    std::size_t bytes = 0;  // topic plus payload of each
};

// Input stops while either the count or the bytes of pending output is at or above its high
// mark, and starts again once both are at or below the low marks (half the high ones). The gap
// keeps the loop from flapping between paused and running on every acknowledgement.
class watermark {
  public:
    // high.publishes and high.bytes are the --max-pending-publishes and --max-pending-bytes
    // limits; each must be at least 1.
    explicit watermark(pending_load high);

    // Takes the current load and says whether input is paused now; counts each new pause.
    bool update(pending_load load);

    // Whether input is paused (as of the last update).
    bool paused() const { return paused_; }
    // How many times input was paused since the start, for /metrics.
    std::uint64_t pauses() const { return pauses_; }
    // The load at which a pause begins and the load to drain to before it ends.
    pending_load high() const { return high_; }
    pending_load low() const { return low_; }

  private:
    pending_load high_;
    pending_load low_;
    bool paused_ = false;
    std::uint64_t pauses_ = 0;
};

// When a publish the client refused is tried again: first after `first`, then twice as long after
// each further refusal up to `cap`, and at once again after an accepted publish. Spacing the tries
// out keeps a refusing client (its buffer full, or disconnected) from spinning the loop.
class retry_backoff {
  public:
    using clock = std::chrono::steady_clock;

    explicit retry_backoff(std::chrono::milliseconds first = std::chrono::milliseconds(5),
                           std::chrono::milliseconds cap = std::chrono::milliseconds(1000));

    // The front publish was refused at `now`: the next try waits one (growing) delay.
    void refused(clock::time_point now);
    // A publish was accepted: the next refusal starts from the first delay again.
    void accepted();
    // Whether a try is allowed at `now`.
    bool due(clock::time_point now) const { return !next_ || *next_ <= now; }
    // When the next try is allowed; nullopt when nothing waits for one.
    std::optional<clock::time_point> next_try() const { return next_; }
    // The delay the next refusal will wait, for log lines.
    std::chrono::milliseconds delay() const { return delay_; }

  private:
    std::chrono::milliseconds first_;
    std::chrono::milliseconds cap_;
    std::chrono::milliseconds delay_;
    std::optional<clock::time_point> next_;
};

// Whether a refused publish is tried again: a full buffer, a lost connection or an unexpected
// failure passes (transient), while a message the client can never send (bad topic, bad QoS or
// options) would block every publish behind it forever, so it is dropped and counted (permanent).
enum class refusal { transient, permanent };

// Classifies a Paho C return code (MQTTASYNC_*) of a refused publish.
refusal classify_refusal(int paho_return_code);

}  // namespace presence::controller
