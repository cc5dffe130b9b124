#include "restore.hpp"

#include <spdlog/spdlog.h>

#include <random>

#include "connect.hpp"
#include "presence/wire/wire.hpp"

namespace presence::controller {

namespace {

constexpr auto subscribe_timeout = std::chrono::seconds(10);

std::string random_nonce() {
    std::random_device rd;
    const auto value = (std::uint64_t{rd()} << 32) | rd();
    return std::to_string(value);
}

}  // namespace

std::optional<retained_state> fetch_retained_state(const config& cfg,
                                                   const std::atomic<bool>& stop) {
    mqtt::async_client client(cfg.broker, cfg.client_id + ".restore");
    client.start_consuming();
    const auto options = base_connect_options(cfg).clean_session(true).finalize();
    if (!connect_with_backoff(client, options, stop, "restore")) return std::nullopt;

    const std::string marker_topic = "presence/controller/" + cfg.client_id + "/sync";
    const std::string nonce = random_nonce();
    retained_state state;
    const auto started = std::chrono::steady_clock::now();
    const auto deadline = started + cfg.restore_timeout;

    const auto subscribed = client.subscribe(
        mqtt::string_collection::create(
            {std::string(wire::user_subscription), std::string(wire::snapshot_subscription),
             std::string(wire::user_subscription) + std::string(wire::json_suffix),
             std::string(wire::snapshot_subscription) + std::string(wire::json_suffix),
             std::string(wire::controller_state_subscription),
             std::string(wire::controller_broker_state_topic)}),
        {1, 1, 1, 1, 1, 1});
    if (wait_token(subscribed, stop, subscribe_timeout) &&
        wait_token(client.subscribe(marker_topic, 1), stop, subscribe_timeout)) {
        client.publish(marker_topic, nonce.data(), nonce.size(), 1, false);
        while (!stop.load()) {
            const auto now = std::chrono::steady_clock::now();
            if (now >= deadline) break;
            mqtt::const_message_ptr msg;
            const auto wait = std::min<std::chrono::steady_clock::duration>(
                deadline - now, std::chrono::milliseconds(200));
            if (!client.try_consume_message_for(&msg, wait)) continue;
            if (!msg) {
                spdlog::warn("restore: connection lost while reading retained state");
                break;
            }
            if (msg->get_topic() == marker_topic) {
                if (msg->get_payload_str() == nonce) {
                    state.complete = true;
                    break;
                }
                continue;
            }
            state.messages.push_back({msg->get_topic(), msg->get_payload_str()});
        }
    }

    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    if (!state.complete && !stop.load()) {
        spdlog::warn(
            "restore: incomplete after {} ms (--restore-timeout); going on with what "
            "arrived",
            took.count());
    }
    spdlog::info("restore: read {} retained messages, complete={} took={}ms", state.messages.size(),
                 state.complete, took.count());
    try {
        client.disconnect()->wait_for(std::chrono::seconds(3));
        spdlog::debug("restore: disconnected");
    } catch (const mqtt::exception& e) {
        spdlog::warn("restore: disconnect failed: {}", e.what());
    }
    return state;
}

}  // namespace presence::controller
