#pragma once
// A well-behaved app: the MQTT client every test scenario drives, following docs/protocol.md.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "presence/core/types.hpp"

namespace mqtt {
class async_client;
}

namespace presence::testing {

// Who the app is and how it connects.
struct app_options {
    std::string user;
    std::string device;
    std::string password;  // empty: connect without one
    std::string session;   // empty: a fresh unique session id
    core::profile profile;
    std::chrono::seconds keepalive{30};
    bool clean_session = true;  // false: a persistent session, for takeover scenarios
};

// A Paho MQTT 3.1.1 client with username = user, client id = device and a Last Will on
// presence/will/<user>/<device> carrying its session id, as the protocol asks of every app.
// Every publish is QoS 1 and waits for the broker's PUBACK, so a test step is done when the
// call returns. No automatic reconnect: tests decide when a device comes back.
class app_device {
  public:
    app_device(std::string uri, app_options options);
    ~app_device();
    app_device(const app_device&) = delete;
    app_device& operator=(const app_device&) = delete;

    // Connects (will set) and publishes presence/connect with the session and profile.
    void connect();
    // Connects with a new session id (or the given one), as an app does after losing its link.
    void reconnect(std::string session = {});
    void join(std::string_view party);
    void leave(std::string_view party);
    void update_profile(const core::profile& profile);
    // Publishes presence/disconnect: sign-out from every party.
    void sign_out();
    // A clean MQTT DISCONNECT: the broker sends no will.
    void disconnect();
    // Publishes anything as this client, for tests of what the broker or controller refuse.
    void publish(const std::string& topic, const std::string& payload);

    bool connected() const;
    const std::string& session() const { return options_.session; }
    core::device_key key() const { return {options_.user, options_.device}; }

  private:
    std::string uri_;
    app_options options_;
    std::unique_ptr<mqtt::async_client> client_;
};

// A fresh session id, unique within the test process.
std::string new_session_id();

}  // namespace presence::testing
