#include "presence/plugin/events.hpp"

#include "presence/v1/presence.pb.h"
#include "presence/wire/topics.hpp"

namespace presence::plugin {

namespace {

void set_time(google::protobuf::Timestamp& ts, std::int64_t us) {
    ts.set_seconds(us / 1'000'000);
    ts.set_nanos(static_cast<std::int32_t>((us % 1'000'000) * 1000));
}

}  // namespace

std::string lifecycle_topic(const lifecycle_event& event) {
    return wire::inbound_topic(event.connected ? wire::inbound_kind::lifecycle_connected
                                               : wire::inbound_kind::lifecycle_disconnected,
                               event.info.user, event.info.device);
}

std::string encode(const lifecycle_event& event, std::uint64_t broker_epoch) {
    presence::v1::ConnectionEvent msg;
    msg.set_broker_epoch(broker_epoch);
    msg.set_connection_seq(event.seq);
    msg.set_user_id(event.info.user);
    msg.set_device_id(event.info.device);
    if (!event.connected) msg.set_end(static_cast<presence::v1::ConnectionEnd>(event.end));
    set_time(*msg.mutable_at(), event.at_us);
    msg.set_protocol_version(event.info.protocol_version);
    msg.set_clean_session(event.info.clean_session);
    msg.set_keepalive_seconds(event.info.keepalive_seconds);
    return msg.SerializeAsString();
}

std::string encode_epoch(std::uint64_t broker_epoch, std::int64_t started_us,
                         std::string_view plugin_version) {
    presence::v1::BrokerEpoch msg;
    msg.set_broker_epoch(broker_epoch);
    set_time(*msg.mutable_started_at(), started_us);
    msg.set_plugin_version(std::string(plugin_version));
    return msg.SerializeAsString();
}

std::string encode_census(const census& c, std::uint64_t broker_epoch, std::int64_t started_us) {
    presence::v1::ConnectionCensus msg;
    msg.set_broker_epoch(broker_epoch);
    msg.set_last_connection_seq(c.last_seq);
    set_time(*msg.mutable_started_at(), started_us);
    set_time(*msg.mutable_at(), c.at_us);
    for (const auto& open : c.open) {
        auto* conn = msg.add_connections();
        conn->set_user_id(open.user);
        conn->set_device_id(open.device);
        conn->set_connection_seq(open.seq);
    }
    return msg.SerializeAsString();
}

std::uint64_t make_epoch(std::int64_t wall_us, std::uint64_t random_bits) {
    const std::uint64_t epoch =
        (static_cast<std::uint64_t>(wall_us) << 12) ^ (random_bits & 0xFFFu);
    return epoch == 0 ? 1 : epoch;
}

}  // namespace presence::plugin
