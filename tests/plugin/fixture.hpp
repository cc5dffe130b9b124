#pragma once
// A broker running the presence plugin (dev.conf) and a controller-role subscriber that sees
// everything, lifecycle events decoded: the vantage point of the controller.

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "presence/testing/app_device.hpp"
#include "presence/testing/broker.hpp"
#include "presence/testing/observer.hpp"
#include "presence/testing/raw_device.hpp"
#include "presence/testing/tokens.hpp"
#include "presence/v1/presence.pb.h"
#include "presence/wire/topics.hpp"

namespace presence::testing {

// One lifecycle event as the controller receives it.
struct seen_event {
    bool connected = true;
    std::string user;
    std::string device;
    std::uint64_t seq = 0;
    std::uint64_t epoch = 0;
    v1::ConnectionEnd end = v1::CONNECTION_END_UNSPECIFIED;
    std::uint32_t protocol_version = 0;
};

inline std::vector<seen_event> lifecycle_events(const observer& o) {
    std::vector<seen_event> out;
    for (const auto& m : o.messages()) {
        wire::parsed_topic t;
        if (wire::parse_topic(m.topic, t) != wire::topic_error::ok ||
            t.what != wire::topic_class::inbound ||
            (t.inbound != wire::inbound_kind::lifecycle_connected &&
             t.inbound != wire::inbound_kind::lifecycle_disconnected)) {
            continue;
        }
        const bool connected = t.inbound == wire::inbound_kind::lifecycle_connected;
        v1::ConnectionEvent e;
        if (!e.ParseFromString(m.payload)) throw std::runtime_error("bad event on " + m.topic);
        if (t.user_id != e.user_id() || t.device_id != e.device_id()) {
            throw std::runtime_error("topic mismatch " + m.topic);
        }
        out.push_back({connected, e.user_id(), e.device_id(), e.connection_seq(), e.broker_epoch(),
                       e.end(), e.protocol_version()});
    }
    return out;
}

// The events of one device only.
inline std::vector<seen_event> events_of(const observer& o, const std::string& device) {
    std::vector<seen_event> out;
    for (auto& e : lifecycle_events(o)) {
        if (e.device == device) out.push_back(e);
    }
    return out;
}

inline observer_options controller_login(std::string client_id = {}) {
    observer_options o;
    o.client_id = std::move(client_id);
    o.username = std::string(controller_user);
    o.password = mint_test_token(controller_user, token::role::controller);
    o.sync_topic = true;
    return o;
}

inline broker_options dev_broker() {
    broker_options o;
    o.config = "dev";
    return o;
}

inline app_options app_login(std::string user, std::string device,
                             std::chrono::seconds ttl = std::chrono::hours(1)) {
    app_options o;
    o.user = std::move(user);
    o.device = std::move(device);
    o.password = mint_test_token(o.user, token::role::app, ttl);
    return o;
}

inline raw_device_options raw_login(std::string user, std::string device,
                                    std::chrono::seconds keepalive = std::chrono::seconds(30)) {
    raw_device_options o;
    o.user = std::move(user);
    o.device = std::move(device);
    o.password = mint_test_token(o.user);
    o.keepalive = keepalive;
    return o;
}

}  // namespace presence::testing
