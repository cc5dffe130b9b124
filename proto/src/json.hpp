#pragma once
// Private to the wire library: a direct JSON printer for the outbound presence.v1 messages.
//
// protobuf 3.21's MessageToJsonString goes through a type resolver and an object-stream
// converter; measured here it costs about 25 us for a one-member snapshot and 150 ms for a
// 10,000-member one, more than everything else on the presence path together. This printer
// writes the same bytes (proto field names, every primitive field, one line, the library's key
// order and string escaping) straight from the message; the unit tests compare it with
// MessageToJsonString on randomised messages.

#include <string>

#include "presence/v1/presence.pb.h"

namespace presence::wire::detail {

// Each appends the JSON form of the message to `out`.
void append_json(const v1::PartyMembers& message, std::string& out);
void append_json(const v1::PartyEvent& message, std::string& out);
void append_json(const v1::UserPresence& message, std::string& out);

// Appends `text` as a JSON string literal escaped the way protobuf's JSON printer escapes it.
void append_json_string(std::string_view text, std::string& out);

}  // namespace presence::wire::detail
