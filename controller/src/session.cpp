#include "session.hpp"

#include <spdlog/spdlog.h>

#include "connect.hpp"
#include "presence/wire/query.hpp"

namespace presence::controller {

namespace {

// Enough room for every publish of a long reconnect under load; Paho refuses beyond it.
constexpr int max_buffered_messages = 1'000'000;
constexpr int max_inflight = 1000;
constexpr int qos = 1;

// The broker keeps the session as long as a 3.1.1 persistent session: "never expires", bounded
// only by the broker's persistent_client_expiration.
constexpr std::uint32_t session_expiry_never = 0xFFFFFFFF;

mqtt::create_options create_options() {
    return mqtt::create_options_builder()
        .mqtt_version(MQTTVERSION_5)
        .send_while_disconnected(true, false)
        .max_buffered_messages(max_buffered_messages)
        .delete_oldest_messages(false)
        .finalize();
}

}  // namespace

session::session(const config& cfg)
    : cfg_(cfg), client_(cfg.broker, cfg.client_id, create_options()) {
    client_.set_connected_handler([this](const std::string& cause) { on_connected(cause); });
    // Tracked here rather than asked of Paho (is_connected() takes a lock its I/O threads hold),
    // so the loop thread can read it for the health endpoint without ever waiting.
    client_.set_connection_lost_handler([this](const std::string&) { connected_.store(false); });
    client_.set_disconnected_handler(
        [this](const mqtt::properties&, mqtt::ReasonCode) { connected_.store(false); });
    client_.start_consuming();
}

session::~session() = default;

bool session::connect(const std::atomic<bool>& stop) {
    // MQTT 5, for the response topic and correlation data of queries. clean_start(false) plus a
    // session expiry keeps the persistent session (and the inbound messages queued for it while
    // the controller is down), as clean_session(false) did with 3.1.1.
    auto options =
        base_connect_options(cfg_)
            .mqtt_version(MQTTVERSION_5)
            .clean_start(false)
            .automatic_reconnect(std::chrono::seconds(1), std::chrono::seconds(10))
            .max_inflight(max_inflight)
            .will(mqtt::will_options(std::string(status_topic), std::string("offline"), qos, true))
            .finalize();
    // Set on the final object: a copied connect_options would point at the builder's properties.
    options.set_properties(mqtt::properties{
        {mqtt::property::SESSION_EXPIRY_INTERVAL, static_cast<int>(session_expiry_never)}});
    spdlog::debug("session: connecting");
    return connect_with_backoff(client_, options, stop, "session");
}

void session::on_connected(const std::string& cause) {
    disable_nagle_on_tcp_sockets();
    connects_.fetch_add(1);
    connected_.store(true);
    try {
        auto topics = wire::inbound_subscriptions();
        topics.emplace_back(wire::query_subscription);
        client_.subscribe(mqtt::string_collection::create(topics),
                          mqtt::iasync_client::qos_collection(topics.size(), qos));
        client_.publish(std::string(status_topic), "online", 6, qos, true);
        spdlog::info("connected to {} as {}{}", cfg_.broker, cfg_.client_id,
                     cause.empty() ? std::string() : " (" + cause + ")");
    } catch (const mqtt::exception& e) {
        spdlog::error("subscribing after connect failed: {}", e.what());
    } catch (...) {
        spdlog::error("subscribing after connect failed");
    }
}

std::optional<mqtt::const_message_ptr> session::next(std::chrono::milliseconds wait) {
    mqtt::const_message_ptr msg;
    if (wait.count() <= 0) {
        if (!client_.try_consume_message(&msg)) return std::nullopt;
    } else if (!client_.try_consume_message_for(&msg, wait)) {
        return std::nullopt;
    }
    return msg;
}

void session::publish(const wire::outbound& message, int message_qos,
                      const std::string& correlation_data) {
    if (correlation_data.empty()) {
        client_.publish(message.topic, message.payload.data(), message.payload.size(), message_qos,
                        message.retained);
        return;
    }
    auto msg = mqtt::make_message(message.topic, message.payload, message_qos, message.retained);
    msg->set_properties(mqtt::properties{{mqtt::property::CORRELATION_DATA, correlation_data}});
    client_.publish(std::move(msg));
}

bool session::connected() const { return connected_.load(); }

void session::shutdown() {
    try {
        if (client_.is_connected()) {
            client_.publish(std::string(status_topic), "offline", 7, qos, true)
                ->wait_for(std::chrono::seconds(2));
        }
        client_.disconnect(std::chrono::seconds(5))->wait_for(std::chrono::seconds(6));
    } catch (const mqtt::exception& e) {
        spdlog::warn("clean disconnect failed: {}", e.what());
    }
}

}  // namespace presence::controller
