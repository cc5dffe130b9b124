#include "presence/testing/app_device.hpp"

#include <mqtt/async_client.h>
#include <unistd.h>

#include <atomic>

#include "presence/wire/wire.hpp"

namespace presence::testing {

std::string new_session_id() {
    static std::atomic<unsigned> counter{0};
    return "s-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
}

app_device::app_device(std::string uri, app_options options)
    : uri_(std::move(uri)), options_(std::move(options)) {
    if (options_.session.empty()) options_.session = new_session_id();
}

app_device::~app_device() {
    try {
        if (client_ && client_->is_connected()) {
            client_->disconnect()->wait_for(std::chrono::seconds(5));
        }
    } catch (...) {
        // The broker may be gone already; the device simply vanishes.
    }
}

void app_device::connect() {
    client_ = std::make_unique<mqtt::async_client>(uri_, options_.device);
    const core::device_key device = key();
    const std::string will_payload = wire::encode_will(options_.session);
    mqtt::will_options will(wire::inbound_topic(wire::inbound_kind::will, device),
                            will_payload.data(), will_payload.size(), 1, false);
    auto builder = mqtt::connect_options_builder()
                       .mqtt_version(MQTTVERSION_3_1_1)
                       .clean_session(options_.clean_session)
                       .keep_alive_interval(options_.keepalive)
                       .connect_timeout(std::chrono::seconds(10))
                       .automatic_reconnect(false)
                       .user_name(options_.user)
                       .will(std::move(will));
    if (!options_.password.empty()) builder.password(options_.password);
    client_->connect(builder.finalize())->wait();
    publish(wire::inbound_topic(wire::inbound_kind::connect, device),
            wire::encode_connect(options_.session, options_.profile));
}

void app_device::reconnect(std::string session) {
    if (client_ && client_->is_connected()) disconnect();
    options_.session = session.empty() ? new_session_id() : std::move(session);
    connect();
}

void app_device::join(std::string_view party) {
    publish(wire::inbound_topic(wire::inbound_kind::join, key(), party),
            wire::encode_session(options_.session));
}

void app_device::leave(std::string_view party) {
    publish(wire::inbound_topic(wire::inbound_kind::leave, key(), party),
            wire::encode_session(options_.session));
}

void app_device::update_profile(const core::profile& profile) {
    options_.profile = profile;
    publish(wire::inbound_topic(wire::inbound_kind::profile, key()), wire::encode_profile(profile));
}

void app_device::sign_out() {
    publish(wire::inbound_topic(wire::inbound_kind::disconnect, key()),
            wire::encode_session(options_.session));
}

void app_device::disconnect() {
    if (client_ && client_->is_connected()) client_->disconnect()->wait();
}

void app_device::publish(const std::string& topic, const std::string& payload) {
    client_->publish(topic, payload.data(), payload.size(), 1, false)->wait();
}

bool app_device::connected() const { return client_ && client_->is_connected(); }

}  // namespace presence::testing
