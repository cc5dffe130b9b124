// The direct JSON printer of the outbound messages; see json.hpp for why it exists.
#include "json.hpp"

#include <array>
#include <charconv>
#include <cstdint>

namespace presence::wire::detail {
namespace {

namespace pb = google::protobuf;

constexpr char hex_digits[] = "0123456789abcdef";

void append_u16_escape(std::uint32_t unit, std::string& out) {
    out.append("\\u");
    out.push_back(hex_digits[(unit >> 12) & 0xfU]);
    out.push_back(hex_digits[(unit >> 8) & 0xfU]);
    out.push_back(hex_digits[(unit >> 4) & 0xfU]);
    out.push_back(hex_digits[unit & 0xfU]);
}

// The non-ASCII code points protobuf's JSON printer writes as \u escapes (format and invisible
// characters), as closed ranges.
bool escaped_code_point(std::uint32_t cp) {
    static constexpr std::array<std::array<std::uint32_t, 2>, 15> ranges{{
        {0x0080, 0x009f},
        {0x00ad, 0x00ad},
        {0x0600, 0x0603},
        {0x06dd, 0x06dd},
        {0x070f, 0x070f},
        {0x17b4, 0x17b5},
        {0x200b, 0x200f},
        {0x2028, 0x202e},
        {0x2060, 0x2064},
        {0x206a, 0x206f},
        {0xfeff, 0xfeff},
        {0xfff9, 0xfffb},
        {0x1d173, 0x1d17a},
        {0xe0001, 0xe0001},
        {0xe0020, 0xe007f},
    }};
    for (const auto& [lo, hi] : ranges) {
        if (cp < lo) return false;
        if (cp <= hi) return true;
    }
    return false;
}

// Decodes the UTF-8 sequence at text[i] (protobuf has already validated it); returns its length.
std::size_t decode_utf8(std::string_view text, std::size_t i, std::uint32_t& cp) {
    const auto byte = [&](std::size_t k) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(text[i + k]));
    };
    const std::uint32_t b0 = byte(0);
    if (b0 < 0xe0 && i + 1 < text.size()) {
        cp = ((b0 & 0x1fU) << 6) | (byte(1) & 0x3fU);
        return 2;
    }
    if (b0 < 0xf0 && i + 2 < text.size()) {
        cp = ((b0 & 0x0fU) << 12) | ((byte(1) & 0x3fU) << 6) | (byte(2) & 0x3fU);
        return 3;
    }
    if (i + 3 < text.size()) {
        cp = ((b0 & 0x07U) << 18) | ((byte(1) & 0x3fU) << 12) | ((byte(2) & 0x3fU) << 6) |
             (byte(3) & 0x3fU);
        return 4;
    }
    cp = 0xfffd;
    return text.size() - i;
}

void append_key(std::string_view key, std::string& out) {
    out.push_back('"');
    out.append(key);
    out.append("\":");
}

void append_uint64(std::uint64_t value, std::string& out) {
    std::array<char, 24> buffer{};
    const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
    out.push_back('"');
    out.append(buffer.data(), result.ptr);
    out.push_back('"');
}

void append_digits(std::int64_t value, int width, std::string& out) {
    std::array<char, 20> buffer{};
    for (int i = width - 1; i >= 0; --i) {
        buffer[static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
        value /= 10;
    }
    out.append(buffer.data(), static_cast<std::size_t>(width));
}

// RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits, like protobuf's Timestamp mapping. The
// wire layer only ever builds timestamps within years 1-9999 with valid nanos.
void append_timestamp(const pb::Timestamp& t, std::string& out) {
    const std::int64_t seconds = t.seconds();
    std::int64_t days = seconds / 86400;
    std::int64_t rest = seconds % 86400;
    if (rest < 0) {
        rest += 86400;
        days -= 1;
    }
    // Howard Hinnant's days_from_civil inverse.
    const std::int64_t z = days + 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const std::int64_t doe = z - era * 146097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;
    const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
    const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    out.push_back('"');
    append_digits(year, 4, out);
    out.push_back('-');
    append_digits(month, 2, out);
    out.push_back('-');
    append_digits(day, 2, out);
    out.push_back('T');
    append_digits(rest / 3600, 2, out);
    out.push_back(':');
    append_digits(rest / 60 % 60, 2, out);
    out.push_back(':');
    append_digits(rest % 60, 2, out);
    const std::int32_t nanos = t.nanos();
    if (nanos != 0) {
        out.push_back('.');
        if (nanos % 1'000'000 == 0) {
            append_digits(nanos / 1'000'000, 3, out);
        } else if (nanos % 1000 == 0) {
            append_digits(nanos / 1000, 6, out);
        } else {
            append_digits(nanos, 9, out);
        }
    }
    out.append("Z\"");
}

// An enum value by name, or by number when the schema does not know it (as protobuf prints it).
void append_enum(const std::string& name, int value, std::string& out) {
    if (name.empty()) {
        out.append(std::to_string(value));
        return;
    }
    out.push_back('"');
    out.append(name);
    out.push_back('"');
}

void append_profile(const v1::Profile& p, std::string& out) {
    out.append("{\"display_name\":");
    append_json_string(p.display_name(), out);
    out.append(",\"avatar_url\":");
    append_json_string(p.avatar_url(), out);
    out.append(",\"status_text\":");
    append_json_string(p.status_text(), out);
    out.push_back('}');
}

void append_device(const v1::Device& d, std::string& out) {
    out.append("{\"device_id\":");
    append_json_string(d.device_id(), out);
    out.append(",\"state\":");
    append_enum(v1::DeviceState_Name(d.state()), d.state(), out);
    if (d.has_reconnect_deadline()) {
        out.append(",\"reconnect_deadline\":");
        append_timestamp(d.reconnect_deadline(), out);
    }
    out.push_back('}');
}

void append_devices(const pb::RepeatedPtrField<v1::Device>& devices, std::string& out) {
    append_key("devices", out);
    out.push_back('[');
    bool first = true;
    for (const auto& d : devices) {
        if (!first) out.push_back(',');
        first = false;
        append_device(d, out);
    }
    out.push_back(']');
}

void append_member(const v1::Member& m, std::string& out) {
    out.append("{\"user_id\":");
    append_json_string(m.user_id(), out);
    out.append(",\"state\":");
    append_enum(v1::MemberState_Name(m.state()), m.state(), out);
    if (m.has_profile()) {
        out.append(",\"profile\":");
        append_profile(m.profile(), out);
    }
    out.push_back(',');
    append_devices(m.devices(), out);
    if (m.has_reconnect_deadline()) {
        out.append(",\"reconnect_deadline\":");
        append_timestamp(m.reconnect_deadline(), out);
    }
    if (m.has_joined_at()) {
        out.append(",\"joined_at\":");
        append_timestamp(m.joined_at(), out);
    }
    out.push_back('}');
}

}  // namespace

void append_json_string(std::string_view text, std::string& out) {
    out.push_back('"');
    std::size_t plain_from = 0;
    std::size_t i = 0;
    const auto flush = [&](std::size_t end) {
        out.append(text.substr(plain_from, end - plain_from));
    };
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x80) {
            std::uint32_t cp = 0;
            const std::size_t length = decode_utf8(text, i, cp);
            if (escaped_code_point(cp)) {
                flush(i);
                if (cp >= 0x10000) {
                    const std::uint32_t v = cp - 0x10000;
                    append_u16_escape(0xd800 + (v >> 10), out);
                    append_u16_escape(0xdc00 + (v & 0x3ffU), out);
                } else {
                    append_u16_escape(cp, out);
                }
                plain_from = i + length;
            }
            i += length;
            continue;
        }
        const char* escape = nullptr;
        switch (c) {
            case '"':
                escape = "\\\"";
                break;
            case '\\':
                escape = "\\\\";
                break;
            case '\b':
                escape = "\\b";
                break;
            case '\f':
                escape = "\\f";
                break;
            case '\n':
                escape = "\\n";
                break;
            case '\r':
                escape = "\\r";
                break;
            case '\t':
                escape = "\\t";
                break;
            default:
                break;
        }
        if (escape != nullptr) {
            flush(i);
            out.append(escape);
            plain_from = i + 1;
        } else if (c < 0x20 || c == '<' || c == '>' || c == 0x7f) {
            flush(i);
            append_u16_escape(c, out);
            plain_from = i + 1;
        }
        ++i;
    }
    flush(text.size());
    out.push_back('"');
}

void append_json(const v1::PartyMembers& message, std::string& out) {
    out.append("{\"party_id\":");
    append_json_string(message.party_id(), out);
    out.append(",\"revision\":");
    append_uint64(message.revision(), out);
    out.append(",\"members\":[");
    bool first = true;
    for (const auto& m : message.members()) {
        if (!first) out.push_back(',');
        first = false;
        append_member(m, out);
    }
    out.push_back(']');
    if (message.has_updated_at()) {
        out.append(",\"updated_at\":");
        append_timestamp(message.updated_at(), out);
    }
    out.push_back('}');
}

void append_json(const v1::PartyEvent& message, std::string& out) {
    out.append("{\"party_id\":");
    append_json_string(message.party_id(), out);
    out.append(",\"revision\":");
    append_uint64(message.revision(), out);
    out.append(",\"kind\":");
    append_enum(v1::EventKind_Name(message.kind()), message.kind(), out);
    if (message.has_member()) {
        out.append(",\"member\":");
        append_member(message.member(), out);
    }
    out.append(",\"reason\":");
    append_enum(v1::LeaveReason_Name(message.reason()), message.reason(), out);
    if (message.has_at()) {
        out.append(",\"at\":");
        append_timestamp(message.at(), out);
    }
    out.push_back('}');
}

void append_json(const v1::UserPresence& message, std::string& out) {
    out.append("{\"user_id\":");
    append_json_string(message.user_id(), out);
    out.append(",\"online\":");
    out.append(message.online() ? "true" : "false");
    if (message.has_profile()) {
        out.append(",\"profile\":");
        append_profile(message.profile(), out);
    }
    out.push_back(',');
    append_devices(message.devices(), out);
    out.append(",\"parties\":[");
    bool first = true;
    for (const auto& p : message.parties()) {
        if (!first) out.push_back(',');
        first = false;
        append_json_string(p, out);
    }
    out.push_back(']');
    if (message.has_last_seen()) {
        out.append(",\"last_seen\":");
        append_timestamp(message.last_seen(), out);
    }
    out.push_back('}');
}

}  // namespace presence::wire::detail
