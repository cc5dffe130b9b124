#include "presence/plugin/auth.hpp"

#include "presence/plugin/rules.hpp"

namespace presence::plugin {

std::string describe(const auth_result& result) {
    switch (result.why) {
        case refusal::ok:
            return "ok";
        case refusal::bad_username:
            return "bad_identifier (username)";
        case refusal::bad_client_id:
            return "bad_identifier (client id)";
        case refusal::bad_token:
            return token::to_string(result.token_error);
        case refusal::device_in_use:
            return "client id in use by another user";
        case refusal::session_in_use:
            return "client id of another user's persistent session";
    }
    return "unknown";
}

auth_result authenticate(std::string_view key, const char* username, const char* client_id,
                         const char* password, std::int64_t now_s) {
    auth_result out;
    if (username == nullptr || !valid_identifier(username)) {
        out.why = refusal::bad_username;
        return out;
    }
    if (client_id == nullptr || !valid_identifier(client_id)) {
        out.why = refusal::bad_client_id;
        return out;
    }
    const token::verdict v =
        token::verify(key, password == nullptr ? std::string_view{} : password, username, now_s);
    if (!v.ok()) {
        out.why = refusal::bad_token;
        out.token_error = v.why;
        return out;
    }
    out.granted = v.granted;
    return out;
}

}  // namespace presence::plugin
