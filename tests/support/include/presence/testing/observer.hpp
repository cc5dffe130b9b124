#pragma once
// A subscriber that records everything it receives, so tests assert on what any member of a
// party would really see, in typed form.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "presence/core/types.hpp"

namespace mqtt {
class async_client;
}

namespace presence::testing {

// One message as the observer received it.
struct received {
    std::string topic;
    std::string payload;
    bool retained = false;
    std::chrono::steady_clock::time_point at;
};

// Connection settings of an observer; the defaults suit the development broker.
struct observer_options {
    std::string client_id;  // empty: a unique generated id
    std::string username;
    std::string password;
    // Subscribe to presence/test-sync/<client id> so sync() works; off where an ACL forbids it
    // (the hardened ACL allows it for the controller account only).
    bool sync_topic = true;
};

// Extracts a number from a flat JSON object ({"key": 12, ...}); nullopt when absent. Enough for
// the controller's stats topic without pulling a JSON library into the tests.
std::optional<double> json_number(std::string_view json, std::string_view key);

// A Paho MQTT 3.1.1 client subscribed (QoS 1) to `topics`, recording every message with its
// retained flag and arrival time. Connects and subscribes in the constructor; throws on failure.
class observer {
  public:
    observer(const std::string& uri, std::vector<std::string> topics,
             observer_options options = {});
    ~observer();
    observer(const observer&) = delete;
    observer& operator=(const observer&) = delete;

    // A copy of everything received so far, in arrival order.
    std::vector<received> messages() const;
    std::vector<received> messages_on(std::string_view topic) const;

    // Waits until `pred` holds for the messages received so far, re-checking on every arrival.
    // Returns false on timeout; never fails early.
    bool wait_until(const std::function<bool(const std::vector<received>&)>& pred,
                    std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;

    // Round-trips a message through the broker on a private topic: every message the broker
    // queued for this observer before (retained ones of earlier subscriptions included) has
    // been received when it returns. Needs sync_topic.
    void sync(std::chrono::milliseconds timeout = std::chrono::seconds(10));

    // Every message on party/<p>/members, decoded; nullopt entries are clears (empty payload).
    // Throws when a payload does not decode, since that is a bug worth a loud failure.
    std::vector<std::optional<core::party_snapshot>> snapshots(std::string_view party) const;
    // The party as a subscriber sees it now: the latest snapshot, nullopt if none or cleared.
    std::optional<core::party_snapshot> latest_snapshot(std::string_view party) const;
    // Waits until the latest snapshot of the party satisfies `pred` (nullptr: none or cleared).
    bool wait_snapshot(std::string_view party,
                       const std::function<bool(const core::party_snapshot*)>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;

    // Every event received on party/<p>/events, decoded.
    std::vector<core::party_event> events(std::string_view party) const;
    // Waits until some received event of the party satisfies `pred`.
    bool wait_event(std::string_view party,
                    const std::function<bool(const core::party_event&)>& pred,
                    std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;

    // The latest controller-private record of a user (presence/controller/state/user/<u>), if
    // this observer subscribed to it and it is not cleared; for tests of what the controller
    // keeps that apps no longer see (sessions, broker connections).
    std::optional<core::user_record> latest_record(std::string_view user) const;
    // The device as the latest private record of its user has it.
    std::optional<core::device_view> recorded_device(std::string_view user,
                                                     std::string_view device) const;

    // The value of `key` in the latest presence/controller/stats message, if any.
    std::optional<double> latest_stat(std::string_view key) const;
    // Waits until the latest stats message has `key` and `pred` holds for its value.
    bool wait_stat(std::string_view key, const std::function<bool(double)>& pred,
                   std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;

    // Publishes as this client (QoS 1, waits for PUBACK); for probes and impostors.
    void publish(const std::string& topic, const std::string& payload, bool retained = false);

  private:
    std::unique_ptr<mqtt::async_client> client_;
    std::string sync_topic_;
    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::vector<received> messages_;
};

// Whether a member is in a snapshot (nullptr: an absent or cleared party has no members).
const core::member_view* find_member(const core::party_snapshot* snapshot, std::string_view user);

}  // namespace presence::testing
