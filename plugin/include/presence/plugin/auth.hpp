#pragma once
// The CONNECT decision of the mosquitto_presence plugin, without the broker: identifiers first,
// then the token. The glue adds only the connection table's device check.

#include <cstdint>
#include <string>
#include <string_view>

#include "presence/token/token.hpp"

namespace presence::plugin {

// Why a CONNECT was refused; `ok` when it was not.
enum class refusal {
    ok = 0,
    bad_username,    // missing, or outside the identifier rule
    bad_client_id,   // outside the identifier rule
    bad_token,       // see auth_result::token_error
    device_in_use,   // another user's live connection holds this client id
    session_in_use,  // another user's persistent session has this client id
};

// The outcome of authenticate().
struct auth_result {
    refusal why = refusal::ok;
    token::error token_error = token::error::ok;
    token::claims granted;
    bool ok() const { return why == refusal::ok; }
};

// A short reason for the broker log ("bad_signature", "bad_client_id", ...).
std::string describe(const auth_result& result);

// Decides a CONNECT: username and client id must be protocol identifiers, and the password a
// token for that username signed with `key`. Null pointers mean "absent". Never throws.
auth_result authenticate(std::string_view key, const char* username, const char* client_id,
                         const char* password, std::int64_t now_s);

}  // namespace presence::plugin
