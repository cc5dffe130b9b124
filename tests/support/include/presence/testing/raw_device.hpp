#pragma once
// "Airplane mode": a device whose network vanishes without a FIN or RST. It speaks just enough
// MQTT 3.1.1 by hand to connect and join, then goes silent with its socket open, so only the
// broker's own keepalive can notice it is gone.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace presence::testing {

// Who the raw device is; keepalive is short so the broker gives up on it quickly (1.5 x).
struct raw_device_options {
    std::string user;
    std::string device;
    std::string password;  // empty: no password field
    std::string session;   // empty: a fresh unique session id
    std::chrono::seconds keepalive{1};
    std::string will_topic;  // empty: presence/will/<user>/<device>; set it to try impersonation
    bool clean_session = true;  // false: a persistent session the broker keeps after close
};

// A hand-rolled MQTT 3.1.1 client on a blocking TCP socket. It never sends PINGREQ and never
// reads after CONNACK; the destructor closes the socket.
class raw_device {
  public:
    raw_device(std::uint16_t port, raw_device_options options);
    ~raw_device();
    raw_device(const raw_device&) = delete;
    raw_device& operator=(const raw_device&) = delete;

    // CONNECT with the Last Will (QoS 1) carrying the session; throws unless CONNACK accepts.
    void connect();
    // CONNECT and return the CONNACK return code (0 accepted, 5 not authorised, ...).
    int try_connect();
    // PUBLISH QoS 0 of presence/connect with the session.
    void announce();
    // PUBLISH QoS 0 of a join of the party.
    void join(std::string_view party);
    // Any PUBLISH QoS 0, as this connection (retained when asked).
    void publish(std::string_view topic, std::string_view payload, bool retain = false);
    // From now on the device sends nothing: it is in airplane mode. (A no-op, for readability.)
    void go_silent() {}
    // Closes the socket (a FIN: the broker notices at once).
    void close();

    const std::string& session() const { return options_.session; }

  private:
    void send_all(const std::string& bytes);

    std::uint16_t port_;
    raw_device_options options_;
    int fd_ = -1;
};

}  // namespace presence::testing
