#include "presence/testing/query_client.hpp"

#include <mqtt/async_client.h>

#include <atomic>
#include <stdexcept>

namespace presence::testing {

namespace {

std::string next_correlation_id() {
    static std::atomic<unsigned> counter{0};
    return "corr-" + std::to_string(counter.fetch_add(1));
}

}  // namespace

query_client::query_client(const std::string& uri, query_client_options options)
    : options_(std::move(options)),
      reply_topic_(wire::reply_topic({options_.user, options_.device})) {
    client_ = std::make_unique<mqtt::async_client>(
        uri, options_.device,
        mqtt::create_options_builder().mqtt_version(MQTTVERSION_5).finalize());
    client_->set_message_callback([this](mqtt::const_message_ptr msg) {
        query_reply r{msg->get_topic(), msg->to_string(), {}};
        const auto& props = msg->get_properties();
        if (props.contains(mqtt::property::CORRELATION_DATA)) {
            r.correlation_data = mqtt::get<std::string>(props, mqtt::property::CORRELATION_DATA);
        }
        {
            std::lock_guard lock(mutex_);
            replies_.push_back(std::move(r));
        }
        changed_.notify_all();
    });
    auto builder = mqtt::connect_options_builder()
                       .mqtt_version(MQTTVERSION_5)
                       .clean_start(true)
                       .user_name(options_.user)
                       .keep_alive_interval(std::chrono::seconds(30))
                       .connect_timeout(std::chrono::seconds(10))
                       .automatic_reconnect(false);
    if (!options_.password.empty()) builder.password(options_.password);
    client_->connect(builder.finalize())->wait();
    // "<reply topic>/#" also matches the reply topic itself; subscribing to both would deliver
    // every bare-topic reply twice.
    std::vector<std::string> topics{reply_topic_ + "/#"};
    topics.insert(topics.end(), options_.extra_topics.begin(), options_.extra_topics.end());
    client_->subscribe(mqtt::string_collection::create(topics), std::vector<int>(topics.size(), 1))
        ->wait();
}

query_client::~query_client() {
    try {
        if (client_->is_connected()) client_->disconnect()->wait_for(std::chrono::seconds(5));
    } catch (...) {
        // A broker that is already gone cannot be said goodbye to; nothing to clean up.
    }
}

void query_client::send_on(const std::string& topic, const std::string& payload,
                           const std::string& response_topic, const std::string& correlation_data) {
    auto msg = mqtt::make_message(topic, payload, 1, false);
    mqtt::properties props;
    if (!response_topic.empty()) props.add({mqtt::property::RESPONSE_TOPIC, response_topic});
    if (!correlation_data.empty()) {
        props.add({mqtt::property::CORRELATION_DATA, correlation_data});
    }
    msg->set_properties(props);
    client_->publish(msg)->wait();
}

void query_client::send(const std::string& payload, std::optional<std::string> response_topic,
                        const std::string& correlation_data) {
    send_on(wire::query_topic({options_.user, options_.device}), payload,
            response_topic.value_or(std::string()), correlation_data);
}

std::optional<query_reply> query_client::ask(const std::string& payload, const std::string& suffix,
                                             std::chrono::milliseconds timeout) {
    const std::string correlation = next_correlation_id();
    send(payload, suffix.empty() ? reply_topic_ : reply_topic_ + "/" + suffix, correlation);
    return wait_reply(correlation, timeout);
}

std::optional<wire::query_response> query_client::query(const wire::query_request& request,
                                                        bool json) {
    const auto reply = ask(wire::encode_query_request(request, json));
    if (!reply) return std::nullopt;
    wire::query_response response;
    if (const auto ec = wire::decode_query_response(reply->payload, response)) {
        throw std::runtime_error("query reply does not decode: " + ec.message());
    }
    return response;
}

std::optional<query_reply> query_client::wait_reply(const std::string& correlation_data,
                                                    std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    std::optional<query_reply> found;
    changed_.wait_for(lock, timeout, [&] {
        for (const auto& r : replies_) {
            if (r.correlation_data == correlation_data) {
                found = r;
                return true;
            }
        }
        return false;
    });
    return found;
}

std::vector<query_reply> query_client::replies() const {
    std::lock_guard lock(mutex_);
    return replies_;
}

}  // namespace presence::testing
