#pragma once
// Readable one-line renderings of presence.v1 messages for humans, and JSON lines for scripts.

#include <google/protobuf/message.h>

#include <chrono>
#include <string>

#include "presence/v1/presence.pb.h"

namespace presence::ctl {

// The protobuf JSON mapping with proto field names, on one line (what the controller's JSON
// twins use), for --json output.
std::string to_json(const google::protobuf::Message& msg);

// "alice (Alice) present [phone, laptop]" or "bob (Bob) reconnecting 1:54 left [tab]".
std::string describe(const presence::v1::Member& m, std::chrono::system_clock::time_point now);
// "rev 1795...003  members  demo: 2 -- alice (Alice) present [phone]; ..."
std::string describe(const presence::v1::PartyMembers& s,
                     std::chrono::system_clock::time_point now);
// "rev 1795...004  joined   bob (Bob) [tab]" / "left ... reason=timeout".
std::string describe(const presence::v1::PartyEvent& e, std::chrono::system_clock::time_point now);
// "alice  online  last seen 2026-...Z  devices: phone (live)  parties: demo".
std::string describe(const presence::v1::UserPresence& u);

// RFC 3339 UTC with milliseconds, or "-" for an unset timestamp.
std::string format_time(const google::protobuf::Timestamp& t);

}  // namespace presence::ctl
