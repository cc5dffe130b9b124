#pragma once
// An MQTT 5 client that asks the controller's queries the way an app does: a request on
// presence/query/<user>/<device> with a response topic and correlation data, the answer read
// from its reply space.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "presence/core/types.hpp"
#include "presence/wire/query.hpp"

namespace mqtt {
class async_client;
}

namespace presence::testing {

// Who the query client is. It subscribes to its own reply space plus `extra_topics` (to watch
// for replies that must not arrive elsewhere).
struct query_client_options {
    std::string user;
    std::string device;
    std::string password;  // empty: connect without one
    std::vector<std::string> extra_topics;
};

// One message the query client received, with its MQTT 5 correlation data.
struct query_reply {
    std::string topic;
    std::string payload;
    std::string correlation_data;
};

// A Paho MQTT 5 client (username = user, client id = device, clean start). Connects and
// subscribes (QoS 1) in the constructor; throws on failure.
class query_client {
  public:
    query_client(const std::string& uri, query_client_options options);
    ~query_client();
    query_client(const query_client&) = delete;
    query_client& operator=(const query_client&) = delete;

    // Publishes a request (QoS 1, waits for PUBACK) on this client's query topic. nullopt
    // response_topic sends none; empty correlation data sends none.
    void send(const std::string& payload, std::optional<std::string> response_topic,
              const std::string& correlation_data);
    // Publishes anything as this client with a response topic, for topic-shape tests.
    void send_on(const std::string& topic, const std::string& payload,
                 const std::string& response_topic, const std::string& correlation_data);

    // Sends the payload with response topic presence/reply/<user>/<device>/<suffix> (none:
    // the bare reply topic) and a fresh correlation id; waits for the reply carrying it.
    std::optional<query_reply> ask(const std::string& payload, const std::string& suffix = {},
                                   std::chrono::milliseconds timeout = std::chrono::seconds(20));
    // ask() with an encoded request, decoding the answer; throws when it does not decode.
    std::optional<wire::query_response> query(const wire::query_request& request,
                                              bool json = false);

    // Waits for a reply with this correlation data.
    std::optional<query_reply> wait_reply(const std::string& correlation_data,
                                          std::chrono::milliseconds timeout);
    // Everything received so far.
    std::vector<query_reply> replies() const;

    const std::string& reply_topic() const { return reply_topic_; }

  private:
    query_client_options options_;
    std::string reply_topic_;
    std::unique_ptr<mqtt::async_client> client_;
    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::vector<query_reply> replies_;
};

}  // namespace presence::testing
