#include "presence/testing/raw_device.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

#include "presence/testing/app_device.hpp"
#include "presence/testing/mqtt_packets.hpp"
#include "presence/wire/wire.hpp"

namespace presence::testing {

raw_device::raw_device(std::uint16_t port, raw_device_options options)
    : port_(port), options_(std::move(options)) {
    if (options_.session.empty()) options_.session = new_session_id();
}

raw_device::~raw_device() { close(); }

void raw_device::connect() {
    const int code = try_connect();
    if (code != 0) {
        throw std::runtime_error("raw_device: CONNACK refused with code " + std::to_string(code));
    }
}

int raw_device::try_connect() {
    close();
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        throw std::system_error(errno, std::generic_category(), "raw_device connect");
    }
    timeval timeout{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);

    const core::device_key key{options_.user, options_.device};
    connect_fields f;
    f.client_id = options_.device;
    f.username = options_.user;
    f.password = options_.password;
    f.keepalive_s = static_cast<std::uint16_t>(options_.keepalive.count());
    f.clean_session = options_.clean_session;
    f.will_topic = options_.will_topic.empty() ? wire::inbound_topic(wire::inbound_kind::will, key)
                                               : options_.will_topic;
    f.will_payload = wire::encode_will(options_.session);
    f.will_qos = 1;
    send_all(encode_connect_packet(f));

    unsigned char connack[4] = {};
    std::size_t got = 0;
    while (got < sizeof connack) {
        const ssize_t n = ::recv(fd_, connack + got, sizeof connack - got, 0);
        if (n <= 0) throw std::runtime_error("raw_device: connection closed before CONNACK");
        got += static_cast<std::size_t>(n);
    }
    if (connack[0] != 0x20) throw std::runtime_error("raw_device: expected CONNACK");
    return connack[3];
}

void raw_device::announce() {
    const core::device_key key{options_.user, options_.device};
    publish(wire::inbound_topic(wire::inbound_kind::connect, key),
            wire::encode_connect(options_.session, {}));
}

void raw_device::join(std::string_view party) {
    const core::device_key key{options_.user, options_.device};
    publish(wire::inbound_topic(wire::inbound_kind::join, key, party),
            wire::encode_session(options_.session));
}

void raw_device::publish(std::string_view topic, std::string_view payload, bool retain) {
    send_all(encode_publish_packet(topic, payload, 0, 0, retain));
}

void raw_device::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

void raw_device::send_all(const std::string& bytes) {
    if (fd_ < 0) throw std::logic_error("raw_device: not connected");
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n < 0) throw std::system_error(errno, std::generic_category(), "raw_device send");
        sent += static_cast<std::size_t>(n);
    }
}

}  // namespace presence::testing
