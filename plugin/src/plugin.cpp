// mosquitto_presence: the broker glue. Each callback translates the broker's C structures into
// calls of the pure rules and connection table, publishes what they produce, and catches
// everything: an exception never crosses into the broker, and on failure a callback denies.

#include <mosquitto_broker.h>
// mosquitto_plugin.h needs mosquitto_broker.h first.
#include <mosquitto.h>
#include <mosquitto_plugin.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <string_view>

#include "presence/plugin/auth.hpp"
#include "presence/plugin/connections.hpp"
#include "presence/plugin/events.hpp"
#include "presence/plugin/rules.hpp"
#include "presence/token/token.hpp"

#define PRESENCE_EXPORT __attribute__((visibility("default")))

namespace {

using namespace presence;

// At most this many refusal and denial lines per second reach the log; the rest are counted.
constexpr int max_log_lines_per_second = 50;

// Everything the plugin knows, owned by the broker through the userdata pointer.
struct plugin_state {
    mosquitto_plugin_id_t* id = nullptr;
    std::string key;
    plugin::connection_table table;
    // plugin_opt_controller_session: the controller's persistent-session client id (optional).
    // Only a controller token may use it, so a session restored under it after a broker restart
    // is the controller's, and the messages queued for it are checked with controller rights.
    std::string controller_session;
    std::uint64_t epoch = 0;
    std::int64_t started_us = 0;
    bool epoch_published = false;
    std::int64_t log_second = 0;
    int log_lines = 0;
    std::uint64_t suppressed = 0;
};

std::int64_t wall_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A client-supplied string made safe for one log line: printable ASCII, at most 80 bytes.
std::string printable(const char* text) {
    if (text == nullptr) return "(none)";
    std::string out;
    for (std::size_t i = 0; text[i] != '\0'; ++i) {
        if (i == 80) {
            out += "...";
            break;
        }
        const char c = text[i];
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    return out;
}

// Whether one more refusal or denial line may be logged now (a flood is summarised).
bool may_log(plugin_state& s) {
    const std::int64_t second = wall_us() / 1'000'000;
    if (second != s.log_second) {
        if (s.suppressed > 0) {
            mosquitto_log_printf(MOSQ_LOG_NOTICE, "presence: %llu more refusals not logged",
                                 static_cast<unsigned long long>(s.suppressed));
        }
        s.log_second = second;
        s.log_lines = 0;
        s.suppressed = 0;
    }
    if (s.log_lines >= max_log_lines_per_second) {
        ++s.suppressed;
        return false;
    }
    ++s.log_lines;
    return true;
}

// Queues one QoS 1 publish from the broker itself; the payload is handed over in broker memory.
void publish(const std::string& topic, const std::string& payload, bool retain) {
    void* memory = nullptr;
    if (!payload.empty()) {
        memory = mosquitto_malloc(payload.size());
        if (memory == nullptr) {
            mosquitto_log_printf(MOSQ_LOG_ERR, "presence: out of memory publishing %s",
                                 topic.c_str());
            return;
        }
        std::memcpy(memory, payload.data(), payload.size());
    }
    const int rc = mosquitto_broker_publish(
        nullptr, topic.c_str(), static_cast<int>(payload.size()), memory, 1, retain, nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
        // Only an invalid argument leaves the payload with us.
        if (rc == MOSQ_ERR_INVAL && memory != nullptr) mosquitto_free(memory);
        mosquitto_log_printf(MOSQ_LOG_ERR, "presence: publish on %s failed (error %d)",
                             topic.c_str(), rc);
    }
}

// Publishes the epoch (once per run, before any event) and every pending lifecycle event.
void flush(plugin_state& s) {
    if (!s.epoch_published) {
        publish(std::string(wire::broker_epoch_topic),
                plugin::encode_epoch(s.epoch, s.started_us, PRESENCE_VERSION), true);
        s.epoch_published = true;
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "presence: broker epoch %llu published",
                             static_cast<unsigned long long>(s.epoch));
    }
    for (const auto& event : s.table.take_events()) {
        publish(plugin::lifecycle_topic(event), plugin::encode(event, s.epoch), false);
    }
}

int on_basic_auth(int, void* event_data, void* userdata) {
    auto& s = *static_cast<plugin_state*>(userdata);
    auto* ed = static_cast<mosquitto_evt_basic_auth*>(event_data);
    try {
        const char* client_id = mosquitto_client_id(ed->client);
        const std::int64_t now = wall_us();
        const plugin::auth_result result =
            plugin::authenticate(s.key, ed->username, client_id, ed->password, now / 1'000'000);
        plugin::connection_info info;
        if (result.ok()) {
            info.user = ed->username;
            info.device = client_id;
            info.role = result.granted.granted;
            info.expires_s = result.granted.expires_s;
            info.protocol_version =
                static_cast<std::uint32_t>(mosquitto_client_protocol_version(ed->client));
            info.clean_session = mosquitto_client_clean_session(ed->client);
            info.keepalive_seconds =
                static_cast<std::uint32_t>(mosquitto_client_keepalive(ed->client));
        }
        std::string why = plugin::describe(result);
        if (result.ok()) {
            const bool reserved = !s.controller_session.empty() &&
                                  info.device == s.controller_session &&
                                  info.role != token::role::controller;
            const plugin::admission admit =
                reserved ? plugin::admission::session_owned_by_other_user : s.table.check(info);
            if (admit == plugin::admission::ok) {
                s.table.on_authenticated(ed->client, std::move(info), now);
                return MOSQ_ERR_SUCCESS;
            }
            why = plugin::describe({admit == plugin::admission::device_held_by_other_user
                                        ? plugin::refusal::device_in_use
                                        : plugin::refusal::session_in_use,
                                    {},
                                    {}});
        }
        if (may_log(s)) {
            mosquitto_log_printf(MOSQ_LOG_NOTICE,
                                 "presence: refused CONNECT from %s (username '%s', client id "
                                 "'%s'): %s",
                                 printable(mosquitto_client_address(ed->client)).c_str(),
                                 printable(ed->username).c_str(), printable(client_id).c_str(),
                                 why.c_str());
        }
        return MOSQ_ERR_AUTH;
    } catch (...) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "presence: internal error in BASIC_AUTH; refused");
        return MOSQ_ERR_AUTH;
    }
}

plugin::access to_access(int access, bool& known) {
    known = true;
    switch (access) {
        case MOSQ_ACL_SUBSCRIBE:
            return plugin::access::subscribe;
        case MOSQ_ACL_READ:
            return plugin::access::read;
        case MOSQ_ACL_WRITE:
            return plugin::access::write;
        case MOSQ_ACL_UNSUBSCRIBE:
            return plugin::access::unsubscribe;
        default:
            known = false;
            return plugin::access::read;
    }
}

const char* access_name(int access) {
    switch (access) {
        case MOSQ_ACL_SUBSCRIBE:
            return "subscribe";
        case MOSQ_ACL_READ:
            return "read";
        case MOSQ_ACL_WRITE:
            return "write";
        case MOSQ_ACL_UNSUBSCRIBE:
            return "unsubscribe";
        default:
            return "unknown";
    }
}

int on_acl_check(int, void* event_data, void* userdata) {
    auto& s = *static_cast<plugin_state*>(userdata);
    auto* ed = static_cast<mosquitto_evt_acl_check*>(event_data);
    try {
        if (ed->client == nullptr || ed->topic == nullptr) return MOSQ_ERR_ACL_DENIED;
        plugin::identity who;
        if (const plugin::connection_info* info = s.table.find(ed->client)) {
            who = {info->user, info->device, info->role};
        } else {
            // An offline persistent session (Mosquitto queueing for it) keeps the role it was
            // opened with; anything else not authenticated by us gets least rights.
            const char* user = mosquitto_client_username(ed->client);
            const char* device = mosquitto_client_id(ed->client);
            who = {user ? user : "", device ? device : "", token::role::app};
            if (const token::role* role =
                    s.table.offline_session_role(std::string(who.device), std::string(who.user))) {
                who.role = *role;
            } else if (!s.controller_session.empty() && who.device == s.controller_session) {
                who.role = token::role::controller;  // restored from the persistence file
            }
        }
        bool known = false;
        const plugin::access what = to_access(ed->access, known);
        if (known && plugin::allowed(who, what, ed->topic)) {
            // A controller (re)subscribing to the census after its connect gets one at the next
            // tick, after the lifecycle events queued for it.
            if (what == plugin::access::subscribe && who.role == token::role::controller &&
                std::string_view(ed->topic) == wire::broker_census_topic) {
                s.table.request_census();
            }
            return MOSQ_ERR_SUCCESS;
        }
        // A denied READ is a delivery filtered out, not something the client tried: log only
        // writes and subscriptions. A write by a connection that has already ended is its Last
        // Will, which Mosquitto 2.0.11 checks only now (docs/security.md).
        if (ed->access != MOSQ_ACL_READ && may_log(s)) {
            const bool will = ed->access == MOSQ_ACL_WRITE && s.table.ended(ed->client);
            mosquitto_log_printf(MOSQ_LOG_NOTICE, "presence: denied %s of '%s' to %s/%s",
                                 will ? "Last Will" : access_name(ed->access),
                                 printable(ed->topic).c_str(),
                                 printable(std::string(who.user).c_str()).c_str(),
                                 printable(std::string(who.device).c_str()).c_str());
        }
        return MOSQ_ERR_ACL_DENIED;
    } catch (...) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "presence: internal error in ACL_CHECK; denied");
        return MOSQ_ERR_ACL_DENIED;
    }
}

int on_disconnect(int, void* event_data, void* userdata) {
    auto& s = *static_cast<plugin_state*>(userdata);
    auto* ed = static_cast<mosquitto_evt_disconnect*>(event_data);
    try {
        s.table.on_disconnect(ed->client, wall_us());
        flush(s);
    } catch (...) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "presence: internal error in DISCONNECT");
    }
    return MOSQ_ERR_SUCCESS;
}

int on_tick(int, void*, void* userdata) {
    auto& s = *static_cast<plugin_state*>(userdata);
    try {
        const std::vector<std::string> expired = s.table.on_tick(wall_us());
        for (const std::string& device : expired) {
            mosquitto_log_printf(MOSQ_LOG_NOTICE, "presence: kicking %s: token expired",
                                 printable(device.c_str()).c_str());
            // Re-enters on_disconnect synchronously; the table marked it kicked already.
            mosquitto_kick_client_by_clientid(device.c_str(), false);
        }
        flush(s);
        if (const auto census = s.table.take_census(wall_us())) {
            publish(std::string(wire::broker_census_topic),
                    plugin::encode_census(*census, s.epoch, s.started_us), false);
            mosquitto_log_printf(MOSQ_LOG_INFO,
                                 "presence: census of %zu open connections published",
                                 census->open.size());
        }
    } catch (...) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "presence: internal error in TICK");
    }
    return MOSQ_ERR_SUCCESS;
}

struct registration {
    int event;
    MOSQ_FUNC_generic_callback callback;
};
constexpr registration registrations[] = {
    {MOSQ_EVT_BASIC_AUTH, on_basic_auth},
    {MOSQ_EVT_ACL_CHECK, on_acl_check},
    {MOSQ_EVT_DISCONNECT, on_disconnect},
    {MOSQ_EVT_TICK, on_tick},
};

// Reads plugin_opt_jwt_key_file (preferred) or plugin_opt_jwt_key; empty on failure (logged).
std::string load_key(const mosquitto_opt* options, int option_count) {
    std::string key;
    std::string file;
    for (int i = 0; i < option_count; ++i) {
        const std::string_view name = options[i].key ? options[i].key : "";
        const char* value = options[i].value ? options[i].value : "";
        if (name == "jwt_key_file") file = value;
        if (name == "jwt_key") key = value;
    }
    if (!file.empty()) {
        const auto read = token::read_key_file(file);
        if (!read) {
            mosquitto_log_printf(MOSQ_LOG_ERR, "presence: cannot read plugin_opt_jwt_key_file %s",
                                 file.c_str());
            return {};
        }
        key = *read;
    }
    if (key.empty()) {
        mosquitto_log_printf(MOSQ_LOG_ERR,
                             "presence: set plugin_opt_jwt_key_file (or plugin_opt_jwt_key)");
        return {};
    }
    if (key.size() < token::min_key_bytes) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "presence: the JWT key must be at least %d bytes",
                             static_cast<int>(token::min_key_bytes));
        return {};
    }
    return key;
}

}  // namespace

extern "C" {

PRESENCE_EXPORT int mosquitto_plugin_version(int supported_version_count,
                                             const int* supported_versions) {
    for (int i = 0; i < supported_version_count; ++i) {
        if (supported_versions[i] == 5) return 5;
    }
    return -1;
}

PRESENCE_EXPORT int mosquitto_plugin_init(mosquitto_plugin_id_t* identifier, void** userdata,
                                          struct mosquitto_opt* options, int option_count) {
    try {
        auto state = std::make_unique<plugin_state>();
        state->id = identifier;
        state->key = load_key(options, option_count);
        if (state->key.empty()) return MOSQ_ERR_INVAL;
        for (int i = 0; i < option_count; ++i) {
            if (options[i].key != nullptr && options[i].value != nullptr &&
                std::string_view(options[i].key) == "controller_session") {
                state->controller_session = options[i].value;
            }
        }
        state->started_us = wall_us();
        std::random_device random;
        const std::uint64_t bits = (static_cast<std::uint64_t>(random()) << 32) | random();
        state->epoch = plugin::make_epoch(state->started_us, bits);
        for (const auto& r : registrations) {
            const int rc =
                mosquitto_callback_register(identifier, r.event, r.callback, nullptr, state.get());
            if (rc != MOSQ_ERR_SUCCESS) {
                mosquitto_log_printf(MOSQ_LOG_ERR, "presence: cannot register event %d (error %d)",
                                     r.event, rc);
                for (const auto& undo : registrations) {
                    mosquitto_callback_unregister(identifier, undo.event, undo.callback, nullptr);
                }
                return rc;
            }
        }
        mosquitto_log_printf(MOSQ_LOG_NOTICE,
                             "presence: plugin %s loaded (JWT HS256 auth, identity ACL, "
                             "lifecycle events)",
                             PRESENCE_VERSION);
        *userdata = state.release();
        return MOSQ_ERR_SUCCESS;
    } catch (...) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "presence: plugin init failed");
        return MOSQ_ERR_UNKNOWN;
    }
}

PRESENCE_EXPORT int mosquitto_plugin_cleanup(void* userdata, struct mosquitto_opt*, int) {
    auto* state = static_cast<plugin_state*>(userdata);
    if (state == nullptr) return MOSQ_ERR_SUCCESS;
    for (const auto& r : registrations) {
        mosquitto_callback_unregister(state->id, r.event, r.callback, nullptr);
    }
    delete state;
    return MOSQ_ERR_SUCCESS;
}

}  // extern "C"
