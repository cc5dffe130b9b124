#pragma once
// Building blocks of the controller's metrics: the latency histogram, the health facts, and the
// Prometheus label escaping. The counters themselves live in stats.hpp.

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace presence::controller {

// A fixed-bucket latency histogram (seconds), cumulative only when rendered, so observing is a
// few compares and adds on the loop thread.
class latency_histogram {
  public:
    // Upper bounds in seconds: 50 us .. 1 s, then +Inf.
    static constexpr std::array<double, 14> bounds{0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                                   0.0025,  0.005,  0.01,    0.025,  0.05,
                                                   0.1,     0.25,   0.5,     1.0};

    void observe(std::chrono::nanoseconds elapsed);

    // Observations per bucket (not cumulative); the last entry is the +Inf overflow.
    const std::array<std::uint64_t, bounds.size() + 1>& buckets() const { return buckets_; }
    std::uint64_t count() const { return count_; }
    double sum_seconds() const { return sum_seconds_; }
    // The bucket bound at or below which `q` (0..1) of the observations fall (an upper
    // estimate); 0 with no observations, +Inf when the quantile is in the overflow bucket.
    double quantile_bound(double q) const;

  private:
    std::array<std::uint64_t, bounds.size() + 1> buckets_{};
    std::uint64_t count_ = 0;
    double sum_seconds_ = 0;
};

// What the controller knows about its own health, next to the counters.
struct health {
    bool restore_done = false;            // the retained state was read (complete or timed out)
    bool restore_complete = false;        // ... and the sync marker came back before the timeout
    bool broker_connected = false;        // the main session is connected right now
    std::uint64_t broker_connects = 0;    // successful (re)connects of the main session
    std::size_t publish_queue_depth = 0;  // publishes waiting for Paho to accept them
};

// The publish path's own numbers (session.hpp), taken by the loop thread for one snapshot: what
// the controller still owes the broker, and how often that stopped the input.
struct outbound_stats {
    std::uint64_t published = 0;        // publishes Paho accepted
    std::uint64_t refusals = 0;         // times Paho refused a publish that was kept and retried
    std::uint64_t dropped = 0;          // refused publishes Paho can never send (logged, dropped)
    std::uint64_t failed = 0;           // accepted publishes Paho later reported as failed
    std::size_t kept = 0;               // refused publishes waiting for their next try
    std::size_t pending_publishes = 0;  // kept refused publishes plus those Paho still holds
    std::size_t pending_bytes = 0;      // their topics and payloads
    std::uint64_t backpressure_pauses = 0;  // times input stopped at the high-water mark
    bool backpressure_paused = false;       // input is stopped right now
};

// Escapes a Prometheus label value: backslash, double quote and newline.
std::string escape_label_value(std::string_view value);

// Formats a sample value the way Prometheus reads it: integers without a fraction, +Inf.
std::string format_value(double value);

}  // namespace presence::controller
