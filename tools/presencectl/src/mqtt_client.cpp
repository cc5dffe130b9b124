#include "mqtt_client.hpp"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <sys/socket.h>

#include <charconv>

#include "error.hpp"

namespace presence::ctl {

namespace {

std::string mosq_error(int rc) { return mosquitto_strerror(rc); }

void check(int rc, const std::string& what) {
    if (rc != MOSQ_ERR_SUCCESS) throw failure(exit_broker, what + ": " + mosq_error(rc));
}

std::string connack_text(int rc, bool mqtt5) {
    return mqtt5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc);
}

}  // namespace

broker_address parse_broker(const std::string& text) {
    std::string rest = text;
    for (const char* scheme : {"mqtt://", "tcp://"}) {
        if (rest.rfind(scheme, 0) == 0) rest = rest.substr(std::string(scheme).size());
    }
    broker_address out;
    const auto colon = rest.rfind(':');
    out.host = rest.substr(0, colon);
    if (colon != std::string::npos) {
        const std::string port = rest.substr(colon + 1);
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), out.port);
        if (ec != std::errc{} || end != port.data() + port.size() || out.port <= 0 ||
            out.port > 65535) {
            throw failure(exit_usage, "bad broker address '" + text + "' (want host:port)");
        }
    }
    if (out.host.empty() || rest.find('/') != std::string::npos) {
        throw failure(exit_usage, "bad broker address '" + text + "' (want host:port)");
    }
    return out;
}

library::library() { mosquitto_lib_init(); }
library::~library() { mosquitto_lib_cleanup(); }

struct callbacks {
    static void on_connect(mosquitto*, void* obj, int rc, int, const mosquitto_property*) {
        auto* self = static_cast<client*>(obj);
        {
            std::lock_guard lock(self->mutex_);
            self->connack_rc_ = rc;
            self->connected_ = rc == 0;
            if (rc == 0) self->lost_ = false;
        }
        self->cv_.notify_all();
        if (rc == 0 && self->options_.on_connected) self->options_.on_connected();
    }

    static void on_disconnect(mosquitto*, void* obj, int rc, const mosquitto_property*) {
        auto* self = static_cast<client*>(obj);
        {
            std::lock_guard lock(self->mutex_);
            self->connected_ = false;
            self->lost_ = true;
        }
        self->cv_.notify_all();
        if (rc != 0 && self->options_.on_lost) self->options_.on_lost();
    }

    static void on_subscribe(mosquitto*, void* obj, int mid, int, const int*,
                             const mosquitto_property*) {
        auto* self = static_cast<client*>(obj);
        {
            std::lock_guard lock(self->mutex_);
            self->suback_mid_ = mid;
        }
        self->cv_.notify_all();
    }

    static void on_message(mosquitto*, void* obj, const mosquitto_message* msg,
                           const mosquitto_property* props) {
        auto* self = static_cast<client*>(obj);
        received r;
        r.topic = msg->topic;
        if (msg->payloadlen > 0) {
            r.payload.assign(static_cast<const char*>(msg->payload),
                             static_cast<std::size_t>(msg->payloadlen));
        }
        r.retained = msg->retain;
        void* data = nullptr;
        uint16_t len = 0;
        if (mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &data, &len, false) !=
            nullptr) {
            r.correlation_data.assign(static_cast<const char*>(data), len);
            free(data);  // NOLINT: allocated by libmosquitto with malloc
        }
        {
            std::lock_guard lock(self->mutex_);
            self->queue_.push_back(std::move(r));
        }
        self->cv_.notify_all();
    }
};

client::client(client_options options) : options_(std::move(options)) {
    mosq_ = mosquitto_new(options_.client_id.c_str(), true, this);
    if (mosq_ == nullptr) throw failure(exit_broker, "cannot create an MQTT client");
    if (options_.mqtt5) mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_connect_v5_callback_set(mosq_, callbacks::on_connect);
    mosquitto_disconnect_v5_callback_set(mosq_, callbacks::on_disconnect);
    mosquitto_subscribe_v5_callback_set(mosq_, callbacks::on_subscribe);
    mosquitto_message_v5_callback_set(mosq_, callbacks::on_message);
    if (!options_.username.empty() || options_.password) {
        check(mosquitto_username_pw_set(
                  mosq_, options_.username.empty() ? nullptr : options_.username.c_str(),
                  options_.password ? options_.password->c_str() : nullptr),
              "credentials");
    }
    if (options_.will) set_will(*options_.will);
}

client::~client() {
    if (loop_started_) {
        mosquitto_disconnect(mosq_);
        mosquitto_loop_stop(mosq_, false);
    }
    mosquitto_destroy(mosq_);
}

void client::set_will(const will_message& will) {
    check(mosquitto_will_set(mosq_, will.topic.c_str(), static_cast<int>(will.payload.size()),
                             will.payload.data(), 1, false),
          "will");
}

void client::connect(const broker_address& broker, std::chrono::milliseconds timeout) {
    const int rc = mosquitto_connect(mosq_, broker.host.c_str(), broker.port, options_.keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) {
        throw failure(exit_broker, "cannot connect to " + broker.host + ":" +
                                       std::to_string(broker.port) + ": " + mosq_error(rc));
    }
    check(mosquitto_loop_start(mosq_), "network thread");
    loop_started_ = true;
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, timeout, [&] { return connack_rc_ >= 0 || lost_; })) {
        throw failure(exit_broker, "no CONNACK from " + broker.host + ":" +
                                       std::to_string(broker.port) + " within " +
                                       std::to_string(timeout.count()) + " ms");
    }
    if (connack_rc_ != 0) {
        throw failure(exit_broker, "the broker refused the connection: " +
                                       (connack_rc_ > 0 ? connack_text(connack_rc_, options_.mqtt5)
                                                        : std::string("connection closed")));
    }
}

void client::connect_async(const broker_address& broker, int reconnect_delay_s) {
    mosquitto_reconnect_delay_set(mosq_, static_cast<unsigned>(reconnect_delay_s),
                                  static_cast<unsigned>(reconnect_delay_s), false);
    check(mosquitto_connect_async(mosq_, broker.host.c_str(), broker.port, options_.keepalive_s),
          "connect to " + broker.host + ":" + std::to_string(broker.port));
    check(mosquitto_loop_start(mosq_), "network thread");
    loop_started_ = true;
}

bool client::connected() const {
    std::lock_guard lock(mutex_);
    return connected_;
}

void client::subscribe(const std::vector<std::string>& topics, std::chrono::milliseconds timeout) {
    std::vector<char*> subs;
    subs.reserve(topics.size());
    for (const auto& t : topics) subs.push_back(const_cast<char*>(t.c_str()));
    int mid = 0;
    check(mosquitto_subscribe_multiple(mosq_, &mid, static_cast<int>(subs.size()), subs.data(), 1,
                                       0, nullptr),
          "subscribe");
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, timeout, [&] { return suback_mid_ == mid || lost_; }) || lost_) {
        throw failure(exit_broker,
                      lost_ ? "connection lost while subscribing"
                            : "no SUBACK within " + std::to_string(timeout.count()) + " ms");
    }
}

void client::publish(const std::string& topic, const std::string& payload,
                     const std::string& response_topic, const std::string& correlation) {
    mosquitto_property* props = nullptr;
    if (!response_topic.empty()) {
        mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, response_topic.c_str());
    }
    if (!correlation.empty()) {
        mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, correlation.data(),
                                      static_cast<uint16_t>(correlation.size()));
    }
    const int rc =
        mosquitto_publish_v5(mosq_, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                             payload.data(), 1, false, props);
    mosquitto_property_free_all(&props);
    check(rc, "publish " + topic);
}

std::optional<received> client::next(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return !queue_.empty() || lost_; });
    if (!queue_.empty()) {
        received r = std::move(queue_.front());
        queue_.pop_front();
        return r;
    }
    if (lost_) throw failure(exit_broker, "lost the connection to the broker");
    return std::nullopt;
}

void client::set_reconnect_delay(int seconds) {
    mosquitto_reconnect_delay_set(mosq_, static_cast<unsigned>(seconds),
                                  static_cast<unsigned>(seconds), false);
}

void client::disconnect() {
    if (loop_started_) mosquitto_disconnect(mosq_);
}

void client::drop() {
    const int fd = mosquitto_socket(mosq_);
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
}

}  // namespace presence::ctl
