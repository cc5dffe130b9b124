#include "presence/token/token.hpp"

#include <jwt.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "presence/wire/identifier.hpp"

namespace presence::token {

namespace {

struct jwt_deleter {
    void operator()(jwt_t* j) const { jwt_free(j); }
};
using jwt_ptr = std::unique_ptr<jwt_t, jwt_deleter>;

struct jwt_string_deleter {
    void operator()(char* s) const { std::free(s); }  // libjwt 1.10 strings come from malloc
};

bool base64url_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

// header.payload.signature, each part non-empty base64url (no padding): anything else is
// malformed before libjwt sees it, so its errors mean a signature problem.
bool well_shaped(std::string_view token) {
    int parts = 1;
    std::size_t part_len = 0;
    for (const char c : token) {
        if (c == '.') {
            if (part_len == 0) return false;
            ++parts;
            part_len = 0;
        } else if (base64url_char(c)) {
            ++part_len;
        } else {
            return false;
        }
    }
    return parts == 3 && part_len > 0;
}

}  // namespace

const char* to_string(role r) {
    switch (r) {
        case role::controller:
            return "controller";
        case role::observer:
            return "observer";
        case role::app:
            break;
    }
    return "app";
}

std::optional<role> parse_role(std::string_view text) {
    if (text == "app") return role::app;
    if (text == "controller") return role::controller;
    if (text == "observer") return role::observer;
    return std::nullopt;
}

const char* to_string(error e) {
    switch (e) {
        case error::ok:
            return "ok";
        case error::missing:
            return "missing_token";
        case error::too_long:
            return "token_too_long";
        case error::malformed:
            return "malformed_token";
        case error::bad_signature:
            return "bad_signature";
        case error::expired:
            return "expired";
        case error::wrong_subject:
            return "wrong_subject";
        case error::bad_role:
            return "bad_role";
    }
    return "unknown";
}

verdict verify(std::string_view key, std::string_view token, std::string_view username,
               std::int64_t now_s) {
    verdict out;
    if (token.empty()) return {error::missing, {}};
    if (token.size() > max_token_bytes) return {error::too_long, {}};
    if (!well_shaped(token)) return {error::malformed, {}};
    if (key.empty() || key.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
        return {error::bad_signature, {}};
    }
    const std::string text(token);  // libjwt wants a NUL-terminated string
    jwt_t* raw = nullptr;
    const int rc =
        jwt_decode(&raw, text.c_str(), reinterpret_cast<const unsigned char*>(key.data()),
                   static_cast<int>(key.size()));
    jwt_ptr decoded(raw);
    if (rc != 0 || !decoded) {
        // Tell a token that does not parse even unsigned from one whose signature is wrong.
        jwt_t* unchecked = nullptr;
        const int parse_rc = jwt_decode(&unchecked, text.c_str(), nullptr, 0);
        jwt_ptr holder(unchecked);
        return {parse_rc == 0 ? error::bad_signature : error::malformed, {}};
    }
    // libjwt verifies with the algorithm the header names; only HS256 is ours.
    if (jwt_get_alg(decoded.get()) != JWT_ALG_HS256) return {error::bad_signature, {}};

    errno = 0;
    const long exp = jwt_get_grant_int(decoded.get(), "exp");
    if (errno != 0) {
        // Absent (ENOENT) or not an integer (EINVAL): exp is required.
        return {errno == ENOENT ? error::expired : error::malformed, {}};
    }
    out.granted.expires_s = exp;
    if (exp <= now_s) return {error::expired, {}};

    const char* sub = jwt_get_grant(decoded.get(), "sub");
    if (sub == nullptr) return {error::wrong_subject, {}};
    out.granted.subject = sub;
    if (username.empty() || out.granted.subject != username) return {error::wrong_subject, {}};

    const char* role_claim = jwt_get_grant(decoded.get(), "role");
    if (role_claim != nullptr) {
        const auto parsed = parse_role(role_claim);
        if (!parsed) return {error::bad_role, {}};
        out.granted.granted = *parsed;
    } else {
        errno = 0;
        // A role that is present but not a string (a number, an object) is refused too.
        std::unique_ptr<char, jwt_string_deleter> any(jwt_get_grants_json(decoded.get(), "role"));
        if (any) return {error::bad_role, {}};
    }
    return out;
}

std::string mint_token(std::string_view key, std::string_view subject, std::int64_t expires_s,
                       role granted) {
    if (key.empty()) throw std::runtime_error("mint_token: empty key");
    jwt_t* raw = nullptr;
    if (jwt_new(&raw) != 0) throw std::runtime_error("mint_token: jwt_new failed");
    jwt_ptr j(raw);
    const std::string sub(subject);
    int rc = jwt_add_grant(j.get(), "sub", sub.c_str());
    if (rc == 0) rc = jwt_add_grant_int(j.get(), "exp", static_cast<long>(expires_s));
    if (rc == 0) rc = jwt_add_grant_int(j.get(), "iat", static_cast<long>(std::time(nullptr)));
    if (rc == 0) rc = jwt_add_grant(j.get(), "role", to_string(granted));
    if (rc == 0) {
        rc = jwt_set_alg(j.get(), JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(key.data()),
                         static_cast<int>(key.size()));
    }
    if (rc != 0) throw std::runtime_error("mint_token: libjwt error " + std::to_string(rc));
    std::unique_ptr<char, jwt_string_deleter> encoded(jwt_encode_str(j.get()));
    if (!encoded) throw std::runtime_error("mint_token: jwt_encode_str failed");
    return encoded.get();
}

std::optional<std::string> read_key_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return std::nullopt;
    std::string key = text.str();
    if (!key.empty() && key.back() == '\n') key.pop_back();
    if (!key.empty() && key.back() == '\r') key.pop_back();
    return key;
}

std::string mint_from_key_file(const std::string& key_file, std::string_view subject, role granted,
                               std::int64_t ttl_s, std::int64_t now_s) {
    if (!wire::valid_identifier(subject)) {
        throw mint_error("bad user id '" + std::string(subject) +
                         "': ids are 1-64 characters of [A-Za-z0-9._-]");
    }
    if (ttl_s <= 0) throw mint_error("the validity (--ttl) must be positive");
    const auto key = read_key_file(key_file);
    if (!key) throw mint_error("cannot read the key file " + key_file);
    if (key->size() < min_key_bytes) {
        throw mint_error("the key in " + key_file + " is shorter than " +
                         std::to_string(min_key_bytes) + " bytes; the plugin refuses such keys");
    }
    return mint_token(*key, subject, now_s + ttl_s, granted);
}

}  // namespace presence::token
