#pragma once
// Domain values of the presence engine. Plain data, no protobuf: the wire library maps these to
// and from presence.v1 messages, so the engine stays free of I/O and serialisation concerns.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace presence::core {

// The engine's single clock. The controller feeds it a monotonic clock anchored to the wall clock
// at process start, so deadlines are meaningful wall-clock instants (they are published and
// survive restarts) yet never jump backwards within one run. Tests feed a fake clock.
using duration = std::chrono::milliseconds;
using time_point = std::chrono::sys_time<duration>;

// What other members see of a user.
struct profile {
    std::string display_name;
    std::string avatar_url;
    std::string status_text;

    bool empty() const { return display_name.empty() && avatar_url.empty() && status_text.empty(); }
    friend bool operator==(const profile&, const profile&) = default;
};

// Identifies one connection endpoint of a user: the MQTT username and client id.
struct device_key {
    std::string user_id;
    std::string device_id;

    friend bool operator==(const device_key&, const device_key&) = default;
    friend auto operator<=>(const device_key&, const device_key&) = default;
};

// Whether a device's connection is believed live or lost (reconnecting until its deadline).
enum class device_state : std::uint8_t { live, reconnecting };

// How a member appears on the party screen.
enum class member_state : std::uint8_t { present, reconnecting };

// Why a member left a party.
enum class leave_reason : std::uint8_t { explicit_leave, timeout, sign_out };

// What a party event reports.
enum class event_kind : std::uint8_t { joined, left, reconnecting, back, updated };

// One device as published in snapshots and user presence.
struct device_view {
    std::string device_id;
    device_state state = device_state::live;
    time_point reconnect_deadline{};  // meaningful only while reconnecting
    std::string session_id;
    // Recently ended sessions, oldest first: published so that a restart keeps them stale.
    std::vector<std::string> ended_session_ids;
    // The broker connection last seen for this device through the plugin's lifecycle events
    // (0 and 0 when none was seen): published so that a restarted controller still knows it.
    std::uint64_t broker_epoch = 0;
    std::uint64_t connection_seq = 0;
    // Live only: the session runs on a connection newer than the one above, not yet seen.
    bool session_unplaced = false;

    friend bool operator==(const device_view&, const device_view&) = default;
};

// One member of a party as published.
struct member_view {
    std::string user_id;
    member_state state = member_state::present;
    core::profile profile;
    time_point reconnect_deadline{};  // meaningful only while reconnecting: the latest device deadline
    time_point joined_at{};
    std::vector<device_view> devices;  // sorted by device_id

    friend bool operator==(const member_view&, const member_view&) = default;
};

// The full member list of a party; what party/<id>/members carries.
struct party_snapshot {
    std::string party_id;
    std::uint64_t revision = 0;
    time_point updated_at{};
    std::vector<member_view> members;  // in join order (joined_at, then user_id)

    friend bool operator==(const party_snapshot&, const party_snapshot&) = default;
};

// One change of a party; what party/<id>/events carries.
struct party_event {
    std::string party_id;
    std::uint64_t revision = 0;
    event_kind kind = event_kind::joined;
    leave_reason reason = leave_reason::explicit_leave;  // meaningful only for left
    member_view member;
    time_point at{};

    friend bool operator==(const party_event&, const party_event&) = default;
};

// User-level presence; what presence/user/<id> carries.
struct user_presence {
    std::string user_id;
    bool online = false;
    time_point last_seen{};
    core::profile profile;
    std::vector<device_view> devices;   // sorted by device_id
    std::vector<std::string> parties;   // sorted

    friend bool operator==(const user_presence&, const user_presence&) = default;
};

// A user's membership of one party as the controller records it privately: which of the user's
// devices joined, and since when the user is a member.
struct membership_record {
    std::string party_id;
    time_point joined_at{};
    std::vector<std::string> device_ids;  // sorted

    friend bool operator==(const membership_record&, const membership_record&) = default;
};

// Everything a restarted controller needs to rebuild one user: devices with their sessions, ended
// sessions and broker connections, and the user's memberships. It is the controller-private
// durable record (never sent to apps), published whenever the user's public record is, so the
// broker's retained store holds the newest one per user whatever the crash point.
struct user_record {
    std::string user_id;
    time_point last_seen{};
    core::profile profile;
    std::vector<device_view> devices;             // sorted by device_id
    std::vector<membership_record> memberships;  // sorted by party_id

    friend bool operator==(const user_record&, const user_record&) = default;
};

// The controller-private durable record of what the engine knows of broker runs (lifecycle
// policy, engine.hpp), so that a restarted engine judges a redelivered event of an older run
// exactly as before the crash: the current epoch, the earliest broker time known of it (which
// orders runs), and the retired epochs, oldest first. All empty until a lifecycle input came.
struct broker_record {
    std::uint64_t epoch = 0;
    time_point started_at{};
    std::vector<std::uint64_t> retired;

    friend bool operator==(const broker_record&, const broker_record&) = default;
};

// Effects the host must perform, in order. Snapshots of a party are emitted before its events.
struct publish_snapshot {
    party_snapshot snapshot;
};
struct clear_snapshot {
    std::string party_id;  // the party emptied: remove its retained snapshot
};
struct publish_event {
    party_event event;
};
struct publish_user {
    user_presence user;
};
using effect = std::variant<publish_snapshot, clear_snapshot, publish_event, publish_user>;

// How a broker connection ended, as the plugin reports it. The engine treats every end alike;
// the value is kept for logs and metrics.
enum class connection_end : std::uint8_t { unspecified, lost, taken_over, kicked };

// One app connection the broker reports open in a connection census (presence/broker/census):
// the device and its connection_seq in the census's broker run.
struct census_entry {
    device_key device;
    std::uint64_t connection_seq = 0;

    friend bool operator==(const census_entry&, const census_entry&) = default;
};

// A broker epoch change the engine acted on, so the host can log it (the engine itself never
// logs): the old epoch (0 when none was known), the new one, and how many live devices it sent
// reconnecting because they were not seen on the new broker run.
struct reconciliation {
    std::uint64_t from_epoch = 0;
    std::uint64_t to_epoch = 0;
    std::size_t devices = 0;

    friend bool operator==(const reconciliation&, const reconciliation&) = default;
};

// What an input did to the state. Every value except applied means "nothing changed".
enum class outcome : std::uint8_t {
    applied,       // state changed and effects were queued
    duplicate,     // already in that state (a repeated message); nothing changed
    stale,         // refers to an older session than the current one; ignored
    unknown,       // refers to a device or membership the engine does not hold; ignored
};

// A short lowercase name for logs and metrics labels.
const char* to_string(outcome o);
const char* to_string(event_kind k);
const char* to_string(leave_reason r);
const char* to_string(connection_end e);

}  // namespace presence::core
