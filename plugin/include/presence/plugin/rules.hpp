#pragma once
// Identity and topic rules of the mosquitto_presence plugin: who may connect under which names,
// and which topics each role may publish, subscribe to and receive. Pure functions over strings,
// so every decision is unit-tested and fuzzed without a broker.

#include <string>
#include <string_view>

#include "presence/token/token.hpp"
#include "presence/wire/identifier.hpp"
#include "presence/wire/topics.hpp"

namespace presence::plugin {

// Identifier rule of protocol v1 (header-only, shared with the wire layer; it pulls in no
// engine or protobuf code).
using wire::valid_identifier;

// What a client asks to do with a topic; mirrors MOSQ_ACL_SUBSCRIBE / READ / WRITE.
enum class access { subscribe, read, write, unsubscribe };

// The authenticated identity of a connection, as pinned at CONNECT.
struct identity {
    std::string_view user;    // the MQTT username (= token sub)
    std::string_view device;  // the MQTT client id
    token::role role = token::role::app;
};

// The ACL of docs/security.md. An app may write only its own inbound topics, may subscribe to
// (and receive) only the public outputs and its own replies; a controller may do everything.
// For access::subscribe `topic` is a filter and wildcards are judged by what they could match.
bool allowed(const identity& who, access what, std::string_view topic);

// The only Last Will topic an app may set: presence/will/<user>/<device>.
std::string own_will_topic(std::string_view user, std::string_view device);

}  // namespace presence::plugin
