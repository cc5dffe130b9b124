#pragma once
// Private to the wire library: the mapping between engine values and presence.v1 messages, the
// field limits shared by inbound and outbound decoding, and the one JSON-or-protobuf parser.

#include <string>
#include <string_view>
#include <system_error>

#include "presence/core/types.hpp"
#include "presence/v1/presence.pb.h"
#include "presence/wire/wire.hpp"

namespace presence::wire::detail {

// Field limits of protocol v1, checked on every payload the wire layer accepts.
inline constexpr std::size_t max_session_id_bytes = 128;
// At most this many ended session ids per device are accepted from a retained record.
inline constexpr std::size_t max_ended_session_ids = 16;
inline constexpr std::size_t max_display_name_bytes = 128;
inline constexpr std::size_t max_avatar_url_bytes = 1024;
inline constexpr std::size_t max_status_text_bytes = 256;

// True when a session id fits the protocol: at most 128 bytes and no control characters.
bool valid_session_id(std::string_view session_id);

// True when every profile field is within its byte limit.
bool valid_profile(const v1::Profile& profile);

// google.protobuf.Timestamp to and from the engine's clock (whole milliseconds). from_timestamp
// fails outside the Timestamp's valid range.
void to_timestamp(core::time_point in, google::protobuf::Timestamp& out);
bool from_timestamp(const google::protobuf::Timestamp& in, core::time_point& out);

// Engine values to messages; the target message is overwritten field by field, so a host may
// reuse one message object across calls.
void to_proto(const core::party_snapshot& in, v1::PartyMembers& out);
void to_proto(const core::party_event& in, v1::PartyEvent& out);
void to_proto(const core::user_presence& in, v1::UserPresence& out);
void to_proto(const core::profile& in, v1::Profile& out);

// Messages to engine values, with the validation that keeps broker-retained data from corrupting
// the engine. Strings are moved out of the message, which is left in a valid but unspecified state.
std::error_code from_proto(v1::PartyMembers& in, core::party_snapshot& out);
std::error_code from_proto(v1::PartyEvent& in, core::party_event& out);
std::error_code from_proto(v1::UserPresence& in, core::user_presence& out);
void from_proto(v1::Profile& in, core::profile& out);

// Parses a payload into `message`: strict JSON (proto field names, unknown fields rejected) when
// `json`, else binary protobuf. False when it does not parse.
bool parse_message(std::string_view payload, google::protobuf::Message& message, bool json);
// The same, with the form told by is_json_payload(); the empty payload is the empty message.
inline bool parse_message(std::string_view payload, google::protobuf::Message& message) {
    return payload.empty() || parse_message(payload, message, is_json_payload(payload));
}

// The controller-private durable record of a user (presence/controller/state/user/<u>).
void to_proto(const core::user_record& in, v1::UserRecord& out);
// The controller-private broker-run record (presence/controller/state/broker).
void to_proto(const core::broker_record& in, v1::BrokerRecord& out);
std::error_code from_proto(v1::BrokerRecord& in, core::broker_record& out);
std::error_code from_proto(v1::UserRecord& in, core::user_record& out);

// Upgrade path: copies the private device fields of a pre-v1.1 public snapshot or user record
// (parsed as its Legacy message) onto the lean values decoded from the same bytes.
std::error_code restore_private_fields(v1::LegacyPartyMembers& in, core::party_snapshot& out);
std::error_code restore_private_fields(v1::LegacyUserPresence& in, core::user_presence& out);

}  // namespace presence::wire::detail
