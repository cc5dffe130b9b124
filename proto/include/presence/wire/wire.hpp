#pragma once
// The wire layer: topic grammar, identifier rules, payload codecs (protobuf and its JSON twin),
// and the mapping between MQTT messages and engine inputs and effects. The controller and the
// simulation both go through it, so the simulation exercises the real codec.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "presence/core/engine.hpp"
#include "presence/core/types.hpp"
#include "presence/wire/identifier.hpp"
#include "presence/wire/payload.hpp"
#include "presence/wire/topics.hpp"

namespace presence::wire {

// Why an inbound message was rejected. Each value is a metrics label and a log reason.
enum class error {
    ok = 0,
    bad_topic,          // not one of the inbound topic shapes
    bad_identifier,     // a user, device or party id outside 1-64 of [A-Za-z0-9._-]
    payload_too_large,  // over max_payload_bytes
    bad_payload,        // neither valid protobuf nor valid JSON for the topic's message
    bad_session_id,     // session_id longer than 128 bytes or with control characters
    bad_profile,        // a profile field over its limit
    identity_mismatch,  // a lifecycle event whose user or device id differs from its topic's
};
const std::error_category& error_category();
std::error_code make_error_code(error e);
// A short lowercase name ("bad_payload"), for counters and log lines.
const char* to_string(error e);

// Identifier rule of protocol v1: valid_identifier() in presence/wire/identifier.hpp.

// The inbound message kinds: inbound_kind in presence/wire/topics.hpp.
const char* to_string(inbound_kind k);

// A decoded inbound message: the topic's identifiers plus the payload's fields.
struct inbound {
    inbound_kind kind = inbound_kind::connect;
    std::string party_id;  // join and leave only
    core::device_key device;
    std::string session_id;
    core::profile profile;  // connect and profile only
    // Lifecycle events and the broker epoch only (broker_epoch is never 0 once decoded; neither is
    // connection_seq for a lifecycle event).
    std::uint64_t broker_epoch = 0;
    std::uint64_t connection_seq = 0;
    core::connection_end end = core::connection_end::unspecified;  // disconnected only
    // The broker's clock: the event's `at` or the epoch's (or census's) `started_at` ({} when not
    // sent).
    core::time_point broker_time{};
    // The census only: the open app connections; connection_seq holds its last_connection_seq.
    std::vector<core::census_entry> census;
};

// Limits applied while decoding.
struct limits {
    std::size_t max_payload_bytes = 16 * 1024;
    // The connection census lists every open app connection (about 30 bytes each), and only the
    // broker's plugin can publish it, so it has its own bound: 64 MiB is ~2 million connections.
    std::size_t max_census_bytes = 64 * 1024 * 1024;
};

// Parses and validates topic and payload. A lifecycle event must name the topic's user and device
// (identity_mismatch otherwise) and carry a nonzero epoch and sequence; a broker epoch must be
// nonzero (bad_payload otherwise). A payload whose first non-blank byte is '{' is parsed
// as JSON (proto field names, unknown fields rejected); anything else as binary protobuf; an
// empty payload is the empty message. On error `out` is unspecified.
std::error_code decode_inbound(std::string_view topic, std::string_view payload, inbound& out,
                               const limits& lim = {});

// Feeds a decoded message to the engine.
core::outcome apply(core::engine& engine, const inbound& msg, core::time_point now);

// The MQTT subscriptions (QoS 1) that carry every inbound message.
const std::vector<std::string>& inbound_subscriptions();

// Outbound topics (the grammar and its constants are in presence/wire/topics.hpp).
std::string members_topic(std::string_view party_id);  // party/<p>/members
std::string events_topic(std::string_view party_id);   // party/<p>/events
std::string user_topic(std::string_view user_id);      // presence/user/<u>

// One MQTT publish the host must perform.
struct outbound {
    std::string topic;
    std::string payload;  // empty with retained=true clears the retained message
    bool retained = false;

    bool operator==(const outbound&) const = default;
};

// What render() produces besides the protobuf messages.
struct render_options {
    // The JSON twin of every message (<topic>/json). Off, a cleared party still clears its
    // retained JSON twin, so none outlives the party.
    bool json_twins = true;
};

// Turns one engine effect into MQTT publishes: the protobuf message and, unless switched off,
// its JSON twin.
void render(const core::effect& effect, std::vector<outbound>& out, render_options options = {});

// Encoders and decoders of the outbound messages (binary protobuf; JSON with proto field names).
std::string encode(const core::party_snapshot& s);
std::string encode_json(const core::party_snapshot& s);
std::string encode(const core::party_event& e);
std::string encode_json(const core::party_event& e);
std::string encode(const core::user_presence& u);
std::string encode_json(const core::user_presence& u);
std::error_code decode(std::string_view payload, core::party_snapshot& out);
std::error_code decode(std::string_view payload, core::user_presence& out);
std::error_code decode(std::string_view payload, core::party_event& out);

// The controller-private durable record of a user (proto UserRecord). Only the controller role
// may read or write its topic; apps never see it (docs/protocol.md, private state).
std::string encode(const core::user_record& r);
std::error_code decode(std::string_view payload, core::user_record& out);
inline constexpr std::string_view controller_state_prefix = "presence/controller/state/user/";
inline constexpr std::string_view controller_state_subscription =
    "presence/controller/state/user/+";
std::string controller_state_topic(std::string_view user_id);  // presence/controller/state/user/<u>

// The controller-private record of the broker runs the controller knows (proto BrokerRecord), on
// wire::controller_broker_state_topic; controller role only, like the user records.
std::string encode(const core::broker_record& r);
std::error_code decode(std::string_view payload, core::broker_record& out);

// Upgrade path: decodes a retained public snapshot or user record published before protocol
// v1.1, with the private device fields (session, ended sessions, broker connection) it carried.
// A lean payload decodes too, with those fields empty.
std::error_code decode_legacy(std::string_view payload, core::party_snapshot& out);
std::error_code decode_legacy(std::string_view payload, core::user_presence& out);

// Encoders of inbound payloads, for clients, tools, tests and the simulation.
std::string encode_connect(std::string_view session_id, const core::profile& profile);
std::string encode_will(std::string_view session_id);
std::string encode_session(std::string_view session_id);  // Join, Leave and Disconnect alike
std::string encode_profile(const core::profile& profile);
// A plugin ConnectionEvent (end is ignored for a connected event) and a BrokerEpoch.
// A zero `at` or `started_at` is left unset.
std::string encode_connection_event(const core::device_key& device, std::uint64_t broker_epoch,
                                    std::uint64_t connection_seq,
                                    core::connection_end end = core::connection_end::unspecified,
                                    core::time_point at = {});
// The plugin's connection census (the simulation and the tests build it with this; the plugin
// encodes the same message itself).
std::string encode_census(std::uint64_t broker_epoch, std::uint64_t last_seq,
                          const std::vector<core::census_entry>& open,
                          core::time_point started_at = {});
std::string encode_broker_epoch(std::uint64_t broker_epoch, core::time_point started_at = {});

// Inbound topics, for clients, tools, tests and the simulation (broker_epoch ignores the device).
std::string inbound_topic(inbound_kind kind, const core::device_key& device,
                          std::string_view party_id = {});

}  // namespace presence::wire

template <>
struct std::is_error_code_enum<presence::wire::error> : std::true_type {};
