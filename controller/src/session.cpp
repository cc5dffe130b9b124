#include "session.hpp"

#include <spdlog/spdlog.h>

#include <thread>

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
    : cfg_(cfg),
      client_(cfg.broker, cfg.client_id, create_options()),
      gate_(pending_load{cfg.max_pending_publishes, cfg.max_pending_bytes}) {
    client_.set_connected_handler([this](const std::string& cause) { on_connected(cause); });
    // Tracked here rather than asked of Paho (is_connected() takes a lock its I/O threads hold),
    // so the loop thread can read it for the health endpoint without ever waiting.
    client_.set_connection_lost_handler([this](const std::string&) { on_lost(); });
    client_.set_disconnected_handler(
        [this](const mqtt::properties&, mqtt::ReasonCode) { on_lost(); });
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

void session::on_lost() {
    if (!connected_.exchange(false)) return;  // one end of one connection counts once
    const auto lived = std::chrono::steady_clock::now().time_since_epoch() -
                       std::chrono::nanoseconds(connected_at_ns_.load());
    if (lived < short_connection) {
        const int n = short_connections_.fetch_add(1) + 1;
        spdlog::warn("connection to {} ended {} ms after it began ({} in a row)", cfg_.broker,
                     std::chrono::duration_cast<std::chrono::milliseconds>(lived).count(), n);
    } else {
        short_connections_.store(0);
    }
}

void session::on_connected(const std::string& cause) {
    disable_nagle_on_tcp_sockets();
    connects_.fetch_add(1);
    connected_at_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count());
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

void session::publish(wire::outbound message, int message_qos, std::string correlation_data) {
    kept_publish p{std::move(message), message_qos, std::move(correlation_data)};
    // Behind a kept publish, so the broker sees every topic's messages in the order they were made.
    if (kept_.empty()) {
        const auto result = hand_over(p);
        if (result != handed::refused) return;
        backoff_.refused(std::chrono::steady_clock::now());
    }
    kept_bytes_ += p.message.topic.size() + p.message.payload.size();
    kept_.push_back(std::move(p));
}

void session::retry(std::chrono::steady_clock::time_point now) {
    if (kept_.empty() || !backoff_.due(now)) return;
    while (!kept_.empty()) {
        const auto& front = kept_.front();
        if (hand_over(front) == handed::refused) {
            backoff_.refused(now);
            return;
        }
        kept_bytes_ -= front.message.topic.size() + front.message.payload.size();
        kept_.pop_front();
    }
    backoff_.accepted();
    spdlog::info("publish: Paho accepts publishes again after {} refusals", refusals_in_a_row_);
    refusals_in_a_row_ = 0;
}

std::optional<std::chrono::steady_clock::time_point> session::next_retry() const {
    if (kept_.empty()) return std::nullopt;
    return backoff_.next_try();
}

session::handed session::hand_over(const kept_publish& p) {
    const auto& m = p.message;
    const std::size_t bytes = m.topic.size() + m.payload.size();
    // Counted before the call: Paho may complete the publish on its own thread before it returns.
    in_client_publishes_.fetch_add(1);
    in_client_bytes_.fetch_add(bytes);
    auto* context = reinterpret_cast<void*>(static_cast<std::uintptr_t>(bytes));
    try {
        if (p.correlation_data.empty()) {
            client_.publish(m.topic, m.payload.data(), m.payload.size(), p.qos, m.retained, context,
                            listener_);
        } else {
            auto msg = mqtt::make_message(m.topic, m.payload, p.qos, m.retained);
            msg->set_properties(
                mqtt::properties{{mqtt::property::CORRELATION_DATA, p.correlation_data}});
            client_.publish(std::move(msg), context, listener_);
        }
        ++published_;
        return handed::accepted;
    } catch (const mqtt::exception& e) {
        in_client_publishes_.fetch_sub(1);
        in_client_bytes_.fetch_sub(bytes);
        if (classify_refusal(e.get_return_code()) == refusal::permanent) {
            ++dropped_;
            spdlog::error("publish topic={} dropped: Paho can never send it ({})", m.topic,
                          e.what());
            return handed::dropped;
        }
        ++refusals_;
        // The first refusal of a run and then every power of two, so a long outage logs a few
        // lines rather than one per try.
        const auto n = ++refusals_in_a_row_;
        if ((n & (n - 1)) == 0) {
            spdlog::warn(
                "publish topic={} refused ({}); kept with {} others, retry in {} ms "
                "(refusal {} in a row)",
                m.topic, e.what(), kept_.size(), backoff_.delay().count(), n);
        }
        return handed::refused;
    }
}

void session::delivery_listener::on_success(const mqtt::token& tok) {
    owner_.completed(tok, false);
}

void session::delivery_listener::on_failure(const mqtt::token& tok) { owner_.completed(tok, true); }

void session::completed(const mqtt::token& tok, bool failed) {
    const auto bytes =
        static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(tok.get_user_context()));
    const auto publishes = in_client_publishes_.fetch_sub(1) - 1;
    const auto remaining = in_client_bytes_.fetch_sub(bytes) - bytes;
    if (failed) {
        failed_.fetch_add(1);
        const auto* delivery = dynamic_cast<const mqtt::delivery_token*>(&tok);
        const auto msg = delivery != nullptr ? delivery->get_message() : nullptr;
        spdlog::error("publish topic={} failed after Paho accepted it (rc {})",
                      msg ? msg->get_topic() : std::string("?"), tok.get_return_code());
    }
    if (drain_waiting_.load() && publishes <= drain_target_publishes_.load() &&
        remaining <= drain_target_bytes_.load()) {
        const std::lock_guard lock(drain_mutex_);
        drained_.notify_one();
    }
}

pending_load session::load() const {
    return {kept_.size() + in_client_publishes_.load(), kept_bytes_ + in_client_bytes_.load()};
}

bool session::input_paused() {
    const bool was = gate_.paused();
    const auto now_load = load();
    const bool paused = gate_.update(now_load);
    if (paused && !was) {
        paused_since_ = std::chrono::steady_clock::now();
        spdlog::warn(
            "backpressure: {} publishes ({} bytes) pending reached the high-water mark "
            "({} / {} bytes); input paused",
            now_load.publishes, now_load.bytes, gate_.high().publishes, gate_.high().bytes);
    } else if (!paused && was) {
        spdlog::info("backpressure: drained to {} publishes ({} bytes) after {} ms; input resumed",
                     now_load.publishes, now_load.bytes,
                     std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - paused_since_)
                         .count());
    }
    return paused;
}

void session::wait_for_drain(std::chrono::milliseconds timeout) {
    const auto low = gate_.low();
    const auto saturating = [](std::size_t a, std::size_t b) { return a > b ? a - b : 0; };
    // Kept publishes change only on this thread, so Paho's part must drain to what is left.
    wait_in_client(saturating(low.publishes, kept_.size()), saturating(low.bytes, kept_bytes_),
                   std::chrono::steady_clock::now() + timeout);
}

void session::wait_in_client(std::size_t publishes, std::size_t bytes,
                             std::chrono::steady_clock::time_point until) {
    drain_target_publishes_.store(publishes);
    drain_target_bytes_.store(bytes);
    std::unique_lock lock(drain_mutex_);
    drain_waiting_.store(true);
    drained_.wait_until(lock, until, [this] {
        return in_client_publishes_.load() <= drain_target_publishes_.load() &&
               in_client_bytes_.load() <= drain_target_bytes_.load();
    });
    drain_waiting_.store(false);
}

void session::drain(std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
        retry(std::chrono::steady_clock::now());
        if (kept_.empty()) break;
        std::this_thread::sleep_until(std::min(next_retry().value_or(until), until));
    }
    if (!kept_.empty()) {
        spdlog::error("shutdown: {} refused publishes were never accepted", kept_.size());
        return;
    }
    wait_in_client(0, 0, until);
}

outbound_stats session::outbound() const {
    const auto l = load();
    return {.published = published_,
            .refusals = refusals_,
            .dropped = dropped_,
            .failed = failed_.load(),
            .kept = kept_.size(),
            .pending_publishes = l.publishes,
            .pending_bytes = l.bytes,
            .backpressure_pauses = gate_.pauses(),
            .backpressure_paused = gate_.paused()};
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
