// Error values, topic names (through topics.hpp) and the inbound-to-engine dispatch.
#include "presence/wire/wire.hpp"

#include <string>

namespace presence::wire {
namespace {

class wire_category final : public std::error_category {
  public:
    const char* name() const noexcept override { return "presence.wire"; }
    std::string message(int value) const override {
        switch (static_cast<error>(value)) {
            case error::ok:
                return "The message is valid.";
            case error::bad_topic:
                return "The topic is not one of the inbound topic shapes of protocol v1.";
            case error::bad_identifier:
                return "An identifier is not 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'.";
            case error::payload_too_large:
                return "The payload is larger than the configured maximum size.";
            case error::bad_payload:
                return "The payload is neither valid protobuf nor valid JSON for the topic's "
                       "message.";
            case error::bad_session_id:
                return "The session id is longer than 128 bytes or contains control characters.";
            case error::bad_profile:
                return "A profile field is longer than its limit.";
            case error::identity_mismatch:
                return "The lifecycle event names a different user or device than its topic.";
        }
        return "An unknown wire error occurred.";
    }
};

}  // namespace

const std::error_category& error_category() {
    static const wire_category category;
    return category;
}

std::error_code make_error_code(error e) { return {static_cast<int>(e), error_category()}; }

const char* to_string(error e) {
    switch (e) {
        case error::ok:
            return "ok";
        case error::bad_topic:
            return "bad_topic";
        case error::bad_identifier:
            return "bad_identifier";
        case error::payload_too_large:
            return "payload_too_large";
        case error::bad_payload:
            return "bad_payload";
        case error::bad_session_id:
            return "bad_session_id";
        case error::bad_profile:
            return "bad_profile";
        case error::identity_mismatch:
            return "identity_mismatch";
    }
    return "unknown";
}

const char* to_string(inbound_kind k) {
    switch (k) {
        case inbound_kind::connect:
            return "connect";
        case inbound_kind::will:
            return "will";
        case inbound_kind::disconnect:
            return "disconnect";
        case inbound_kind::profile:
            return "profile";
        case inbound_kind::join:
            return "join";
        case inbound_kind::leave:
            return "leave";
        case inbound_kind::lifecycle_connected:
            return "lifecycle_connected";
        case inbound_kind::lifecycle_disconnected:
            return "lifecycle_disconnected";
        case inbound_kind::broker_epoch:
            return "broker_epoch";
        case inbound_kind::broker_census:
            return "broker_census";
    }
    return "unknown";
}

core::outcome apply(core::engine& engine, const inbound& msg, core::time_point now) {
    switch (msg.kind) {
        case inbound_kind::connect:
            return engine.on_connect(msg.device, msg.session_id, msg.profile, now);
        case inbound_kind::will:
            return engine.on_will(msg.device, msg.session_id, now);
        case inbound_kind::disconnect:
            return engine.on_disconnect(msg.device, msg.session_id, now);
        case inbound_kind::profile:
            return engine.on_profile(msg.device, msg.profile, now);
        case inbound_kind::join:
            return engine.on_join(msg.party_id, msg.device, msg.session_id, now);
        case inbound_kind::leave:
            return engine.on_leave(msg.party_id, msg.device, msg.session_id, now);
        case inbound_kind::lifecycle_connected:
            return engine.on_connection_opened(msg.device, msg.broker_epoch, msg.connection_seq,
                                               now, msg.broker_time);
        case inbound_kind::lifecycle_disconnected:
            return engine.on_connection_closed(msg.device, msg.broker_epoch, msg.connection_seq,
                                               msg.end, now, msg.broker_time);
        case inbound_kind::broker_epoch:
            return engine.on_broker_epoch(msg.broker_epoch, now, msg.broker_time);
        case inbound_kind::broker_census:
            return engine.on_census(msg.broker_epoch, msg.connection_seq, msg.census, now,
                                    msg.broker_time);
    }
    return core::outcome::unknown;
}

const std::vector<std::string>& inbound_subscriptions() {
    static const std::vector<std::string> subscriptions(inbound_filters.begin(),
                                                        inbound_filters.end());
    return subscriptions;
}

std::string members_topic(std::string_view party_id) {
    return output_topic(output_kind::members, party_id);
}

std::string events_topic(std::string_view party_id) {
    return output_topic(output_kind::events, party_id);
}

std::string user_topic(std::string_view user_id) {
    return output_topic(output_kind::user, user_id);
}

std::string inbound_topic(inbound_kind kind, const core::device_key& device,
                          std::string_view party_id) {
    return inbound_topic(kind, device.user_id, device.device_id, party_id);
}

}  // namespace presence::wire
