#include "presence/testing/mqtt_packets.hpp"

#include <stdexcept>

namespace presence::testing {

namespace {

void put_u16(std::string& out, std::size_t v) {
    out.push_back(static_cast<char>((v >> 8) & 0xff));
    out.push_back(static_cast<char>(v & 0xff));
}

void put_str(std::string& out, std::string_view s) {
    put_u16(out, s.size());
    out.append(s);
}

std::string frame(std::uint8_t first, const std::string& body) {
    std::string out;
    out.reserve(body.size() + 5);
    out.push_back(static_cast<char>(first));
    std::size_t len = body.size();
    do {
        auto byte = static_cast<std::uint8_t>(len % 128);
        len /= 128;
        if (len > 0) byte = static_cast<std::uint8_t>(byte | 0x80);
        out.push_back(static_cast<char>(byte));
    } while (len > 0);
    out += body;
    return out;
}

std::uint16_t get_u16(std::string_view s, std::size_t at) {
    return static_cast<std::uint16_t>((static_cast<std::uint8_t>(s[at]) << 8) |
                                      static_cast<std::uint8_t>(s[at + 1]));
}

}  // namespace

std::string encode_connect_packet(const connect_fields& f) {
    std::string body;
    put_str(body, "MQTT");
    body.push_back(4);  // protocol level 3.1.1
    std::uint8_t flags = 0;
    if (f.clean_session) flags |= 0x02;
    if (!f.will_topic.empty()) flags = static_cast<std::uint8_t>(flags | 0x04 | (f.will_qos << 3));
    if (!f.username.empty()) flags |= 0x80;
    if (!f.username.empty() && !f.password.empty()) flags |= 0x40;
    body.push_back(static_cast<char>(flags));
    put_u16(body, f.keepalive_s);
    put_str(body, f.client_id);
    if (!f.will_topic.empty()) {
        put_str(body, f.will_topic);
        put_str(body, f.will_payload);
    }
    if (!f.username.empty()) put_str(body, f.username);
    if (!f.username.empty() && !f.password.empty()) put_str(body, f.password);
    return frame(0x10, body);
}

std::string encode_subscribe_packet(std::uint16_t packet_id, std::string_view filter,
                                    std::uint8_t qos) {
    std::string body;
    put_u16(body, packet_id);
    put_str(body, filter);
    body.push_back(static_cast<char>(qos));
    return frame(0x82, body);
}

std::string encode_publish_packet(std::string_view topic, std::string_view payload,
                                  std::uint8_t qos, std::uint16_t packet_id, bool retain) {
    std::string body;
    body.reserve(topic.size() + payload.size() + 4);
    put_str(body, topic);
    if (qos > 0) put_u16(body, packet_id);
    body.append(payload);
    return frame(static_cast<std::uint8_t>(0x30 | (qos << 1) | (retain ? 1 : 0)), body);
}

std::string encode_puback_packet(std::uint16_t packet_id) {
    std::string body;
    put_u16(body, packet_id);
    return frame(0x40, body);
}

std::string encode_pingreq_packet() { return std::string("\xc0\x00", 2); }
std::string encode_disconnect_packet() { return std::string("\xe0\x00", 2); }

void packet_reader::feed(const char* data, std::size_t n) {
    if (pos_ > 0 && pos_ == buf_.size()) {
        buf_.clear();
        pos_ = 0;
    } else if (pos_ > 65536 && pos_ * 2 > buf_.size()) {
        buf_.erase(0, pos_);
        pos_ = 0;
    }
    buf_.append(data, n);
}

std::optional<packet> packet_reader::next() {
    const std::string_view s(buf_.data() + pos_, buf_.size() - pos_);
    if (s.size() < 2) return std::nullopt;
    std::size_t len = 0;
    std::size_t mult = 1;
    std::size_t i = 1;
    for (;; ++i) {
        if (i >= s.size()) return std::nullopt;
        if (i > 4) throw std::runtime_error("malformed remaining length");
        const auto b = static_cast<std::uint8_t>(s[i]);
        len += (b & 0x7fu) * mult;
        mult *= 128;
        if ((b & 0x80u) == 0) break;
    }
    const std::size_t header = i + 1;
    if (s.size() < header + len) return std::nullopt;
    packet p;
    const auto first = static_cast<std::uint8_t>(s[0]);
    p.type = static_cast<std::uint8_t>(first >> 4);
    p.flags = static_cast<std::uint8_t>(first & 0x0f);
    p.wire_bytes = header + len;
    const std::string_view body = s.substr(header, len);
    switch (p.type) {
        case 2:  // CONNACK
            if (body.size() < 2) throw std::runtime_error("short CONNACK");
            p.connack_code = static_cast<std::uint8_t>(body[1]);
            break;
        case 3: {  // PUBLISH
            if (body.size() < 2) throw std::runtime_error("short PUBLISH");
            const std::size_t tlen = get_u16(body, 0);
            std::size_t at = 2 + tlen;
            if (body.size() < at) throw std::runtime_error("short PUBLISH topic");
            p.topic = body.substr(2, tlen);
            if (((p.flags >> 1) & 3) > 0) {
                if (body.size() < at + 2) throw std::runtime_error("short PUBLISH id");
                p.packet_id = get_u16(body, at);
                at += 2;
            }
            p.payload = body.substr(at);
            break;
        }
        case 4:  // PUBACK
        case 9:  // SUBACK
            if (body.size() >= 2) p.packet_id = get_u16(body, 0);
            break;
        default:
            break;
    }
    pos_ += p.wire_bytes;
    return p;
}

}  // namespace presence::testing
