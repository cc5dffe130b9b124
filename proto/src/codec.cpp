// Inbound decoding (topics through topics.hpp, payloads through detail::parse_message) and the
// encoders and decoders of every payload.
#include <climits>

#include "convert.hpp"
#include "json.hpp"
#include "presence/wire/wire.hpp"

namespace presence::wire {
namespace {

template <class Message>
std::error_code decode_session(std::string_view payload, inbound& out) {
    Message message;
    if (!detail::parse_message(payload, message)) return error::bad_payload;
    if (!detail::valid_session_id(message.session_id())) return error::bad_session_id;
    out.session_id = std::move(*message.mutable_session_id());
    return {};
}

core::connection_end from_proto(v1::ConnectionEnd end) {
    switch (end) {
        case v1::CONNECTION_END_LOST:
            return core::connection_end::lost;
        case v1::CONNECTION_END_TAKEN_OVER:
            return core::connection_end::taken_over;
        case v1::CONNECTION_END_KICKED:
            return core::connection_end::kicked;
        default:
            return core::connection_end::unspecified;
    }
}

v1::ConnectionEnd to_proto(core::connection_end end) {
    switch (end) {
        case core::connection_end::lost:
            return v1::CONNECTION_END_LOST;
        case core::connection_end::taken_over:
            return v1::CONNECTION_END_TAKEN_OVER;
        case core::connection_end::kicked:
            return v1::CONNECTION_END_KICKED;
        case core::connection_end::unspecified:
            break;
    }
    return v1::CONNECTION_END_UNSPECIFIED;
}

// A plugin ConnectionEvent: the identities must repeat the topic's, and a broker connection is
// always numbered (epoch and sequence nonzero). Unknown end values count as unspecified: the
// engine treats every end alike.
std::error_code decode_connection_event(std::string_view payload, inbound& out) {
    v1::ConnectionEvent message;
    if (!detail::parse_message(payload, message)) return error::bad_payload;
    if (message.user_id() != out.device.user_id || message.device_id() != out.device.device_id) {
        return error::identity_mismatch;
    }
    if (message.broker_epoch() == 0 || message.connection_seq() == 0) return error::bad_payload;
    if (message.has_at() && !detail::from_timestamp(message.at(), out.broker_time)) {
        return error::bad_payload;
    }
    out.broker_epoch = message.broker_epoch();
    out.connection_seq = message.connection_seq();
    if (out.kind == inbound_kind::lifecycle_disconnected) out.end = from_proto(message.end());
    return {};
}

template <class Message>
std::string serialise(const Message& message) {
    std::string binary;
    message.SerializeToString(&binary);
    return binary;
}

template <class Message, class Value>
std::string encode_binary(const Value& value) {
    Message message;
    detail::to_proto(value, message);
    return serialise(message);
}

template <class Message, class Value>
std::string encode_as_json(const Value& value) {
    Message message;
    detail::to_proto(value, message);
    std::string json;
    detail::append_json(message, json);
    return json;
}

template <class Message, class Value>
std::error_code decode_binary(std::string_view payload, Value& out) {
    Message message;
    if (payload.size() > INT_MAX ||
        !message.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
        return error::bad_payload;
    }
    return detail::from_proto(message, out);
}

}  // namespace

// The census names devices in its payload, not its topic: each must satisfy the identifier rule
// and carry a sequence number within the census's run.
std::error_code decode_census(std::string_view payload, inbound& out) {
    v1::ConnectionCensus message;
    if (!detail::parse_message(payload, message) || message.broker_epoch() == 0) {
        return error::bad_payload;
    }
    if (message.has_started_at() &&
        !detail::from_timestamp(message.started_at(), out.broker_time)) {
        return error::bad_payload;
    }
    out.census.reserve(static_cast<std::size_t>(message.connections_size()));
    for (auto& c : *message.mutable_connections()) {
        if (!valid_identifier(c.user_id()) || !valid_identifier(c.device_id())) {
            return error::bad_identifier;
        }
        if (c.connection_seq() == 0 || c.connection_seq() > message.last_connection_seq()) {
            return error::bad_payload;
        }
        out.census.push_back({{std::move(*c.mutable_user_id()), std::move(*c.mutable_device_id())},
                              c.connection_seq()});
    }
    out.broker_epoch = message.broker_epoch();
    out.connection_seq = message.last_connection_seq();
    return {};
}

std::error_code decode_inbound(std::string_view topic, std::string_view payload, inbound& out,
                               const limits& lim) {
    const bool census = topic == broker_census_topic;
    if (payload.size() > (census ? lim.max_census_bytes : lim.max_payload_bytes)) {
        return error::payload_too_large;
    }
    parsed_topic parts;
    switch (parse_topic(topic, parts)) {
        case topic_error::ok:
            break;
        case topic_error::bad_topic:
            return error::bad_topic;
        case topic_error::bad_identifier:
            // Only inbound shapes count: a malformed reply or output topic is no inbound topic.
            return parts.what == topic_class::inbound ? error::bad_identifier : error::bad_topic;
    }
    if (parts.what != topic_class::inbound) return error::bad_topic;
    out.kind = parts.inbound;
    out.party_id.assign(parts.party_id);
    out.device.user_id.assign(parts.user_id);
    out.device.device_id.assign(parts.device_id);
    out.session_id.clear();
    out.profile = {};
    out.broker_epoch = 0;
    out.connection_seq = 0;
    out.end = core::connection_end::unspecified;
    out.broker_time = {};
    out.census.clear();
    switch (parts.inbound) {
        case inbound_kind::connect: {
            v1::Connect message;
            if (!detail::parse_message(payload, message)) return error::bad_payload;
            if (!detail::valid_session_id(message.session_id())) return error::bad_session_id;
            if (!detail::valid_profile(message.profile())) return error::bad_profile;
            out.session_id = std::move(*message.mutable_session_id());
            detail::from_proto(*message.mutable_profile(), out.profile);
            return {};
        }
        case inbound_kind::profile: {
            v1::Profile message;
            if (!detail::parse_message(payload, message)) return error::bad_payload;
            if (!detail::valid_profile(message)) return error::bad_profile;
            detail::from_proto(message, out.profile);
            return {};
        }
        case inbound_kind::will:
            return decode_session<v1::Will>(payload, out);
        case inbound_kind::disconnect:
            return decode_session<v1::Disconnect>(payload, out);
        case inbound_kind::join:
            return decode_session<v1::Join>(payload, out);
        case inbound_kind::leave:
            return decode_session<v1::Leave>(payload, out);
        case inbound_kind::lifecycle_connected:
        case inbound_kind::lifecycle_disconnected:
            return decode_connection_event(payload, out);
        case inbound_kind::broker_census:
            return decode_census(payload, out);
        case inbound_kind::broker_epoch: {
            v1::BrokerEpoch message;
            if (!detail::parse_message(payload, message) || message.broker_epoch() == 0) {
                return error::bad_payload;
            }
            if (message.has_started_at() &&
                !detail::from_timestamp(message.started_at(), out.broker_time)) {
                return error::bad_payload;
            }
            out.broker_epoch = message.broker_epoch();
            return {};
        }
    }
    return error::bad_topic;
}

std::string encode(const core::party_snapshot& s) { return encode_binary<v1::PartyMembers>(s); }
std::string encode_json(const core::party_snapshot& s) {
    return encode_as_json<v1::PartyMembers>(s);
}
std::string encode(const core::party_event& e) { return encode_binary<v1::PartyEvent>(e); }
std::string encode_json(const core::party_event& e) { return encode_as_json<v1::PartyEvent>(e); }
std::string encode(const core::user_presence& u) { return encode_binary<v1::UserPresence>(u); }
std::string encode_json(const core::user_presence& u) {
    return encode_as_json<v1::UserPresence>(u);
}

std::error_code decode(std::string_view payload, core::party_snapshot& out) {
    return decode_binary<v1::PartyMembers>(payload, out);
}
std::error_code decode(std::string_view payload, core::user_presence& out) {
    return decode_binary<v1::UserPresence>(payload, out);
}
std::error_code decode(std::string_view payload, core::party_event& out) {
    return decode_binary<v1::PartyEvent>(payload, out);
}

std::string encode(const core::broker_record& r) { return encode_binary<v1::BrokerRecord>(r); }
std::error_code decode(std::string_view payload, core::broker_record& out) {
    return decode_binary<v1::BrokerRecord>(payload, out);
}
std::string encode(const core::user_record& r) { return encode_binary<v1::UserRecord>(r); }
std::error_code decode(std::string_view payload, core::user_record& out) {
    return decode_binary<v1::UserRecord>(payload, out);
}

namespace {

template <class Legacy, class Value>
std::error_code decode_with_private_fields(std::string_view payload, Value& out) {
    if (auto ec = decode(payload, out)) return ec;
    Legacy legacy;
    if (!legacy.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
        return error::bad_payload;
    }
    return detail::restore_private_fields(legacy, out);
}

}  // namespace

std::error_code decode_legacy(std::string_view payload, core::party_snapshot& out) {
    return decode_with_private_fields<v1::LegacyPartyMembers>(payload, out);
}
std::error_code decode_legacy(std::string_view payload, core::user_presence& out) {
    return decode_with_private_fields<v1::LegacyUserPresence>(payload, out);
}

std::string controller_state_topic(std::string_view user_id) {
    return std::string(controller_state_prefix) + std::string(user_id);
}

std::string encode_connect(std::string_view session_id, const core::profile& profile) {
    v1::Connect message;
    message.set_session_id(std::string(session_id));
    if (!profile.empty()) detail::to_proto(profile, *message.mutable_profile());
    return serialise(message);
}

std::string encode_will(std::string_view session_id) {
    v1::Will message;
    message.set_session_id(std::string(session_id));
    return serialise(message);
}

std::string encode_session(std::string_view session_id) {
    // Join, Leave and Disconnect share one layout (session_id = 1), so one encoder serves all.
    v1::Join message;
    message.set_session_id(std::string(session_id));
    return serialise(message);
}

std::string encode_profile(const core::profile& profile) {
    v1::Profile message;
    detail::to_proto(profile, message);
    return serialise(message);
}

std::string encode_connection_event(const core::device_key& device, std::uint64_t broker_epoch,
                                    std::uint64_t connection_seq, core::connection_end end,
                                    core::time_point at) {
    v1::ConnectionEvent message;
    if (at != core::time_point{}) detail::to_timestamp(at, *message.mutable_at());
    message.set_broker_epoch(broker_epoch);
    message.set_connection_seq(connection_seq);
    message.set_user_id(device.user_id);
    message.set_device_id(device.device_id);
    message.set_end(to_proto(end));
    return serialise(message);
}

std::string encode_census(std::uint64_t broker_epoch, std::uint64_t last_seq,
                          const std::vector<core::census_entry>& open,
                          core::time_point started_at) {
    v1::ConnectionCensus message;
    message.set_broker_epoch(broker_epoch);
    message.set_last_connection_seq(last_seq);
    if (started_at != core::time_point{}) {
        detail::to_timestamp(started_at, *message.mutable_started_at());
    }
    for (const auto& entry : open) {
        auto* c = message.add_connections();
        c->set_user_id(entry.device.user_id);
        c->set_device_id(entry.device.device_id);
        c->set_connection_seq(entry.connection_seq);
    }
    return serialise(message);
}

std::string encode_broker_epoch(std::uint64_t broker_epoch, core::time_point started_at) {
    v1::BrokerEpoch message;
    if (started_at != core::time_point{}) {
        detail::to_timestamp(started_at, *message.mutable_started_at());
    }
    message.set_broker_epoch(broker_epoch);
    return serialise(message);
}

}  // namespace presence::wire
