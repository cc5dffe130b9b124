#include "presence/testing/raw_device.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

#include "presence/testing/app_device.hpp"
#include "presence/wire/wire.hpp"

namespace presence::testing {

namespace {

void put_u16(std::string& out, std::size_t value) {
    out += static_cast<char>((value >> 8) & 0xFF);
    out += static_cast<char>(value & 0xFF);
}

void put_string(std::string& out, std::string_view s) {
    put_u16(out, s.size());
    out.append(s);
}

// Fixed header: packet type byte, then the remaining length as a variable byte integer.
std::string packet(unsigned char type, const std::string& body) {
    std::string out(1, static_cast<char>(type));
    std::size_t len = body.size();
    do {
        auto byte = static_cast<unsigned char>(len % 128);
        len /= 128;
        if (len > 0) byte = static_cast<unsigned char>(byte | 0x80);
        out += static_cast<char>(byte);
    } while (len > 0);
    return out + body;
}

}  // namespace

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
    // Flags: username, will QoS 1, will, clean session (and password when given).
    unsigned flags = 0x80 | 0x08 | 0x04;
    if (options_.clean_session) flags |= 0x02;
    if (!options_.password.empty()) flags |= 0x40;
    std::string body;
    put_string(body, "MQTT");
    body += static_cast<char>(4);
    body += static_cast<char>(flags);
    put_u16(body, static_cast<std::size_t>(options_.keepalive.count()));
    put_string(body, options_.device);
    put_string(body, options_.will_topic.empty()
                         ? wire::inbound_topic(wire::inbound_kind::will, key)
                         : options_.will_topic);
    put_string(body, wire::encode_will(options_.session));
    put_string(body, options_.user);
    if (!options_.password.empty()) put_string(body, options_.password);
    send_all(packet(0x10, body));

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
    std::string body;
    put_string(body, topic);
    body.append(payload);
    send_all(packet(retain ? 0x31 : 0x30, body));
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
