#pragma once
// Signed access tokens (JWT, HS256, through libjwt): the MQTT password of every client when the
// broker runs the mosquitto_presence plugin. Minting lives here too, so tests, benchmarks and
// tools make exactly the tokens the plugin accepts.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace presence::token {

// What a client may do: an app pins its own identity; the controller may do everything; an
// observer (operator tools such as presencectl) only reads public outputs and asks queries, and
// is never reported as a device.
enum class role { app, controller, observer };
// "app", "controller" or "observer", the claim value.
const char* to_string(role r);
// Parses the claim value; nullopt for anything else.
std::optional<role> parse_role(std::string_view text);

// Why a token was refused. Each value is a log reason of the plugin.
enum class error {
    ok = 0,
    missing,        // no password at all
    too_long,       // over max_token_bytes, refused before parsing
    malformed,      // not three base64url parts of JSON, or a claim of the wrong type
    bad_signature,  // signed with another key, or not HS256 (alg "none" included)
    expired,        // exp is in the past (or missing: exp is required)
    wrong_subject,  // sub differs from the MQTT username
    bad_role,       // a role claim other than "app", "controller" or "observer"
};
// A short lowercase name ("bad_signature"), for log lines and counters.
const char* to_string(error e);

// Tokens longer than this are refused without parsing: bounded work per CONNECT.
inline constexpr std::size_t max_token_bytes = 4096;
// Keys shorter than this are refused by the plugin at start: HS256 wants 256 bits of secret.
inline constexpr std::size_t min_key_bytes = 32;

// The verified content of a token.
struct claims {
    std::string subject;
    std::int64_t expires_s = 0;  // exp, seconds since the Unix epoch
    role granted = role::app;
};

// Result of verify(): error::ok with the claims, or the reason of the refusal.
struct verdict {
    error why = error::ok;
    claims granted;
    bool ok() const { return why == error::ok; }
};

// Verifies an HS256 token against `key`: signature, alg, `exp` > now_s, `sub` == username,
// and the optional `role`. Never throws; a token of any content only yields a refusal.
verdict verify(std::string_view key, std::string_view token, std::string_view username,
               std::int64_t now_s);

// Makes an HS256 token with claims sub, exp (seconds since the epoch), role and iat = now.
// Throws std::runtime_error when libjwt fails (out of memory, empty key).
std::string mint_token(std::string_view key, std::string_view subject, std::int64_t expires_s,
                       role granted = role::app);

// Reads a key file: its content with one trailing newline (or CRLF) removed. nullopt when the
// file cannot be read.
std::optional<std::string> read_key_file(const std::string& path);

// Why mint_from_key_file() refused, with a message for the person who asked.
class mint_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The one way the tools mint a token from a key file (presence-token, presencectl token and
// simulate): checks that the subject is a valid user id, that the key file can be read and that
// its key is at least min_key_bytes long (the plugin refuses shorter keys), then signs a token
// valid for ttl_s > 0 seconds after now_s. Throws mint_error when any check fails.
std::string mint_from_key_file(const std::string& key_file, std::string_view subject, role granted,
                               std::int64_t ttl_s, std::int64_t now_s);

}  // namespace presence::token
