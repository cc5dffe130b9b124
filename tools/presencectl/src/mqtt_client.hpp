#pragma once
// A small RAII wrapper over one libmosquitto client with its own network thread.
//
// presencectl uses libmosquitto rather than Paho: one process here runs many clients (simulate),
// and a second Paho C++ client in one process takes about 2 s to connect (a known Paho issue
// noted in the project's design brief); libmosquitto also exposes every MQTT 5 property the
// queries need and is what the broker itself is built from.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct mosquitto;

namespace presence::ctl {

// Where the broker is: from "host", "host:port", "mqtt://host:port" or "tcp://host:port".
struct broker_address {
    std::string host = "127.0.0.1";
    int port = 1883;
};
// Throws failure(exit_usage) for an unparsable address.
broker_address parse_broker(const std::string& text);

// A message taken off a subscription.
struct received {
    std::string topic;
    std::string payload;
    std::string correlation_data;  // MQTT 5 correlation data, empty when absent
    bool retained = false;
};

// The Last Will of a client.
struct will_message {
    std::string topic;
    std::string payload;
};

struct client_options {
    std::string client_id;
    std::string username;                 // empty: none
    std::optional<std::string> password;  // JWT or password
    bool mqtt5 = true;
    int keepalive_s = 30;
    std::optional<will_message> will;
    // Called on the network thread after every successful (re)connect, e.g. to republish state.
    std::function<void()> on_connected;
    // Called on the network thread after a lost connection, before libmosquitto reconnects.
    std::function<void()> on_lost;
};

// One connection. Messages of subscriptions queue up until next() takes them.
class client {
  public:
    explicit client(client_options options);
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    // Connects and waits for CONNACK. Throws failure(exit_broker) on refusal or timeout.
    void connect(const broker_address& broker, std::chrono::milliseconds timeout);
    // Starts connecting in the background (simulate); connected() tells when it is done.
    void connect_async(const broker_address& broker, int reconnect_delay_s);
    bool connected() const;
    // Subscribes at QoS 1 and waits for the SUBACK.
    void subscribe(const std::vector<std::string>& topics, std::chrono::milliseconds timeout);
    // Publishes at QoS 1; response_topic and correlation data make it an MQTT 5 request.
    void publish(const std::string& topic, const std::string& payload,
                 const std::string& response_topic = {}, const std::string& correlation = {});
    // The next message, or nullopt after the timeout. Throws failure(exit_broker) when the
    // connection is gone and nothing is queued.
    std::optional<received> next(std::chrono::milliseconds timeout);
    // Replaces the will used by the next (re)connect.
    void set_will(const will_message& will);
    // How long libmosquitto waits before reconnecting after a lost connection.
    void set_reconnect_delay(int seconds);
    // Clean DISCONNECT (no will).
    void disconnect();
    // Drops the socket without DISCONNECT, as a phone losing the network: the broker publishes
    // the will; libmosquitto reconnects after its reconnect delay.
    void drop();

    const std::string& client_id() const { return options_.client_id; }

  private:
    friend struct callbacks;  // libmosquitto's C callbacks, in mqtt_client.cpp

    client_options options_;
    mosquitto* mosq_ = nullptr;
    bool loop_started_ = false;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    bool connected_ = false;
    int connack_rc_ = -1;  // -1: no CONNACK yet
    bool lost_ = false;
    int suback_mid_ = 0;
    std::deque<received> queue_;
};

// Calls mosquitto_lib_init/cleanup once for the process.
class library {
  public:
    library();
    ~library();
    library(const library&) = delete;
    library& operator=(const library&) = delete;
};

}  // namespace presence::ctl
