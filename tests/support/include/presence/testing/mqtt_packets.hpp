#pragma once
// Just enough MQTT 3.1.1 framing for the raw clients: the load generator's devices, observers and
// raw-hop probe, and the tests' "airplane mode" raw_device. It encodes the packets they send and
// reads what the broker sends back incrementally. Hand-written because one process must hold
// tens of thousands of connections on one epoll loop, which neither Paho (a thread and ~2 s
// connect per extra client, paho.mqtt.c#1430) nor libmosquitto's one-loop-per-client model does
// cheaply, and because a test must be able to go silent without a DISCONNECT or a PINGREQ.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace presence::testing {

// What a CONNECT carries.
struct connect_fields {
    std::string client_id;
    std::string username;  // empty: no username flag
    std::string password;  // empty: no password flag (sent only with a username)
    std::uint16_t keepalive_s = 30;
    bool clean_session = true;
    std::string will_topic;  // empty: no will
    std::string will_payload;
    std::uint8_t will_qos = 1;
};

std::string encode_connect_packet(const connect_fields& f);
// SUBSCRIBE of one topic filter at `qos`.
std::string encode_subscribe_packet(std::uint16_t packet_id, std::string_view filter,
                                    std::uint8_t qos);
// PUBLISH; packet_id is used only when qos > 0.
std::string encode_publish_packet(std::string_view topic, std::string_view payload,
                                  std::uint8_t qos, std::uint16_t packet_id, bool retain = false);
std::string encode_puback_packet(std::uint16_t packet_id);
std::string encode_pingreq_packet();
std::string encode_disconnect_packet();

// One packet read from the broker. For PUBLISH, topic and payload view into the reader's buffer
// and stay valid until the next call to next().
struct packet {
    std::uint8_t type = 0;  // high nibble of the first byte (2 CONNACK, 3 PUBLISH, ...)
    std::uint8_t flags = 0;
    std::uint16_t packet_id = 0;
    std::uint8_t connack_code = 0;
    std::string_view topic;
    std::string_view payload;
    std::size_t wire_bytes = 0;  // fixed header included
};

// Accumulates bytes from a socket and yields complete packets.
class packet_reader {
  public:
    // Appends received bytes.
    void feed(const char* data, std::size_t n);
    // The next complete packet, or nullopt when more bytes are needed. Throws std::runtime_error
    // on a malformed stream.
    std::optional<packet> next();
    std::size_t buffered() const { return buf_.size() - pos_; }

  private:
    std::string buf_;
    std::size_t pos_ = 0;
};

}  // namespace presence::testing
