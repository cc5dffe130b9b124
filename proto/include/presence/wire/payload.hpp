#pragma once
// The one JSON-or-protobuf payload sniffer of protocol v1, header-only and dependency-free, so
// the wire layer's decoders, presencectl and the tests all tell the two forms apart the same way.

#include <string_view>

namespace presence::wire {

// Whether a payload is the JSON form of its message: its first byte that is not a space, tab,
// CR or LF is '{'. Anything else (the empty payload included) is binary protobuf. A binary
// message never starts so: '{' (0x7b) would be field 15 with wire type 3, which presence.v1
// does not use. A JSON request gets a JSON answer.
inline bool is_json_payload(std::string_view payload) {
    for (const char c : payload) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
        return c == '{';
    }
    return false;
}

}  // namespace presence::wire
