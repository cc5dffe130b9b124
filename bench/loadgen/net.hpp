#pragma once
// One epoll loop holding many MQTT connections over non-blocking sockets: connect throttling,
// several 127.x source addresses, TCP_NODELAY, keepalive pings, and byte counters.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "presence/testing/mqtt_packets.hpp"

namespace presence::bench {

// The shared raw MQTT encoder and reader (tests/support).
using testing::connect_fields;
using testing::encode_connect_packet;
using testing::encode_disconnect_packet;
using testing::encode_pingreq_packet;
using testing::encode_puback_packet;
using testing::encode_publish_packet;
using testing::encode_subscribe_packet;
using testing::packet;
using testing::packet_reader;

using clock_type = std::chrono::steady_clock;
using conn_id = std::uint32_t;

// Callbacks of the loop's owner; they run on the loop's thread, inside poll().
struct net_handler {
    std::function<void(conn_id, std::uint8_t code)> on_connack;
    std::function<void(conn_id, const packet&, clock_type::time_point)> on_publish;
    std::function<void(conn_id)> on_closed;  // the socket died or the broker closed it
};

// Loop tunables.
struct net_options {
    int source_addresses = 16;  // 127.0.1.1 .. 127.0.1.N
    int max_connecting = 256;   // TCP + MQTT handshakes in flight at once
};

class net_loop {
  public:
    net_loop(std::uint16_t port, net_handler handler, net_options options = {});
    ~net_loop();
    net_loop(const net_loop&) = delete;
    net_loop& operator=(const net_loop&) = delete;

    // Opens a connection that sends `connect` once TCP is up; on_connack reports the outcome.
    conn_id open(const connect_fields& connect);
    // Sends bytes (queued when the socket is busy or still connecting).
    void send(conn_id id, std::string_view bytes);
    // Closes the socket without an MQTT DISCONNECT, as a crashing app would: the will fires.
    void drop(conn_id id);
    // DISCONNECT then close: a clean sign-off, no will.
    void disconnect(conn_id id);
    // From now on this connection sends nothing, pings included: airplane mode.
    void silence(conn_id id);
    bool open_now(conn_id id) const;
    bool connected(conn_id id) const;  // CONNACK accepted and not closed

    // Waits up to `timeout` for socket events and handles them; also sends due pings.
    void poll(std::chrono::milliseconds timeout);

    std::size_t connecting() const { return connecting_ + pending_connects_.size(); }
    std::size_t live_connections() const { return live_; }
    std::uint64_t bytes_in(conn_id id) const;
    // Connections that could not even start (no descriptor, connect refused at once) or that the
    // broker closed before CONNACK.
    std::uint64_t failed() const { return failed_; }

  private:
    struct conn;
    void start_tcp(conn_id id);
    void on_writable(conn_id id);
    void on_readable(conn_id id);
    void flush(conn_id id);
    void close_conn(conn_id id, bool notify);
    void watch(conn_id id, bool want_write);
    void ping_sweep(clock_type::time_point now);

    std::uint16_t port_;
    net_handler handler_;
    net_options options_;
    int epfd_ = -1;
    std::vector<std::unique_ptr<conn>> conns_;
    std::vector<conn_id> pending_connects_;
    std::size_t pending_head_ = 0;
    std::size_t connecting_ = 0;
    std::size_t live_ = 0;
    std::uint64_t failed_ = 0;
    clock_type::time_point next_ping_sweep_{};
    std::vector<char> rbuf_;
};

// Raises RLIMIT_NOFILE (soft and, when allowed, hard) to at least n; returns the new soft limit.
std::uint64_t raise_fd_limit(std::uint64_t n);

}  // namespace presence::bench
