#pragma once
// Seeded random domain values for the wire layer's tests: the project's seeded generator
// (presence/common/rng.hpp, the same on every standard library) and builders of snapshots, events
// and user records that use every field.

#include <cstdint>
#include <string>

#include "presence/common/rng.hpp"
#include "presence/core/types.hpp"

namespace presence::wire::testing {

// The project's one seeded generator: identical on every standard library, so a failing seed
// reproduces.
using rng = common::rng;

inline std::string random_identifier(rng& r) {
    static constexpr std::string_view chars =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    std::string id(1 + r.index(64), 'x');
    for (auto& c : id) c = chars[r.index(chars.size())];
    return id;
}

// Printable ASCII without control characters, 0 to 128 bytes.
inline std::string random_session_id(rng& r) {
    std::string s(r.index(129), ' ');
    for (auto& c : s) c = static_cast<char>(r.between(0x20, 0x7e));
    return s;
}

// Valid UTF-8 of up to max_bytes bytes, mixing ASCII with 2-, 3- and 4-byte sequences, and
// characters that JSON printing must escape.
inline std::string random_text(rng& r, std::size_t max_bytes) {
    static constexpr std::string_view pieces[] = {
        "a",
        "Z",
        " ",
        "7",
        "/",
        "\"",
        "\\",
        "<",
        "\x01",
        "\x7f",
        "\t",
        "\xc3\xa9",          // U+00E9, printed as is
        "\xc2\x85",          // U+0085, escaped by protobuf's JSON printer
        "\xe2\x82\xac",      // U+20AC, printed as is
        "\xe2\x80\xa8",      // U+2028, escaped
        "\xf0\x9f\x98\x80",  // U+1F600, printed as is
        "\xf3\xa0\x80\x81",  // U+E0001, escaped as a surrogate pair
    };
    std::string s;
    const std::size_t target = r.index(max_bytes + 1);
    while (true) {
        const auto piece = pieces[r.index(std::size(pieces))];
        if (s.size() + piece.size() > target) break;
        s.append(piece);
    }
    return s;
}

// Any instant google.protobuf.Timestamp can hold, in whole milliseconds.
inline core::time_point random_time(rng& r) {
    constexpr std::int64_t lo = -62'135'596'800'000;
    constexpr std::int64_t hi = 253'402'300'799'999;
    return core::time_point{core::duration{r.between(lo, hi)}};
}

inline core::profile random_profile(rng& r) {
    return {random_text(r, 128), random_text(r, 1024), random_text(r, 256)};
}

// A device as the public messages carry it; with private_fields also the controller's bookkeeping
// (session, ended sessions, broker connection) that only the private record keeps.
inline core::device_view random_device(rng& r, bool private_fields = false) {
    core::device_view d;
    d.device_id = random_identifier(r);
    d.state = r.coin() ? core::device_state::live : core::device_state::reconnecting;
    if (d.state == core::device_state::reconnecting) d.reconnect_deadline = random_time(r);
    d.session_id = random_session_id(r);
    for (std::size_t i = r.index(5); i > 0; --i) {
        if (auto ended = random_session_id(r); !ended.empty()) {
            d.ended_session_ids.push_back(std::move(ended));
        }
    }
    // Zero (no lifecycle seen), small, and the full 64-bit range, which JSON prints as strings.
    if (r.coin()) {
        d.broker_epoch = r.coin() ? r.next() : 1 + r.index(1000);
        d.connection_seq = r.coin() ? r.next() : r.index(1001);
    }
    if (!private_fields) {
        d.session_id.clear();
        d.ended_session_ids.clear();
        d.broker_epoch = 0;
        d.connection_seq = 0;
    }
    return d;
}

inline core::member_view random_member(rng& r) {
    core::member_view m;
    m.user_id = random_identifier(r);
    m.state = r.coin() ? core::member_state::present : core::member_state::reconnecting;
    m.profile = random_profile(r);
    if (m.state == core::member_state::reconnecting) m.reconnect_deadline = random_time(r);
    m.joined_at = random_time(r);
    const std::size_t devices = r.index(4);
    for (std::size_t i = 0; i < devices; ++i) m.devices.push_back(random_device(r));
    return m;
}

inline core::party_snapshot random_snapshot(rng& r) {
    core::party_snapshot s;
    s.party_id = random_identifier(r);
    s.revision = r.next();
    s.updated_at = random_time(r);
    const std::size_t members = r.index(6);
    for (std::size_t i = 0; i < members; ++i) s.members.push_back(random_member(r));
    return s;
}

inline core::party_event random_event(rng& r) {
    core::party_event e;
    e.party_id = random_identifier(r);
    e.revision = r.next();
    e.kind = static_cast<core::event_kind>(r.index(5));
    if (e.kind == core::event_kind::left) e.reason = static_cast<core::leave_reason>(r.index(3));
    e.member = random_member(r);
    e.at = random_time(r);
    return e;
}

inline core::user_presence random_user(rng& r) {
    core::user_presence u;
    u.user_id = random_identifier(r);
    u.online = r.coin();
    u.last_seen = random_time(r);
    u.profile = random_profile(r);
    const std::size_t devices = r.index(4);
    for (std::size_t i = 0; i < devices; ++i) u.devices.push_back(random_device(r));
    const std::size_t parties = r.index(5);
    for (std::size_t i = 0; i < parties; ++i) u.parties.push_back(random_identifier(r));
    return u;
}

}  // namespace presence::wire::testing
