// simulate: N fake devices for demos. Each is a real MQTT client like an app: username = user,
// client id = device, a Last Will with a per-connection session id, presence/connect after every
// CONNACK, and a join republished after every reconnect. With --churn a random device leaves,
// rejoins, renames itself or goes into "airplane mode" (its socket is dropped without DISCONNECT,
// so the broker publishes the will; it reconnects a few seconds later) every --churn-interval.
// With --key-file each device gets its own token (the plugin pins username = token subject).
#include <algorithm>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "commands.hpp"
#include "error.hpp"
#include "mqtt_client.hpp"
#include "presence/wire/wire.hpp"

namespace presence::ctl {

namespace {

std::string random_session(std::mt19937_64& rng) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "sim-";
    for (int i = 0; i < 16; ++i) out += hex[rng() % 16];
    return out;
}

// One simulated phone. The network thread calls on_connected/on_lost; the driver thread acts.
struct device {
    core::device_key key;
    std::string party;
    std::string display_name;
    std::mutex mutex;
    std::mt19937_64 rng;
    std::string session;
    bool joined = true;
    std::unique_ptr<client> conn;

    std::string current_session() {
        std::lock_guard lock(mutex);
        return session;
    }
    std::string join_topic() const {
        return wire::inbound_topic(wire::inbound_kind::join, key, party);
    }
    std::string leave_topic() const {
        return wire::inbound_topic(wire::inbound_kind::leave, key, party);
    }
    will_message will_for(const std::string& s) const {
        return {wire::inbound_topic(wire::inbound_kind::will, key), wire::encode_will(s)};
    }
    // After CONNACK: say which session this connection is, then rejoin (joins are idempotent).
    void on_connected() {
        std::lock_guard lock(mutex);
        conn->publish(wire::inbound_topic(wire::inbound_kind::connect, key),
                      wire::encode_connect(session, core::profile{display_name, "", ""}));
        if (joined) conn->publish(join_topic(), wire::encode_session(session));
    }
    // Connection lost: the next connection is a new session with its own will.
    void on_lost() {
        std::lock_guard lock(mutex);
        session = random_session(rng);
        conn->set_will(will_for(session));
    }
};

void say(bool json, const std::string& what, const device& d) {
    if (json) {
        std::cout << R"({"action":")" << what << R"(","user_id":")" << d.key.user_id
                  << R"(","device_id":")" << d.key.device_id << R"("})" << '\n';
    } else {
        std::cout << what << ' ' << d.key.user_id << '/' << d.key.device_id << '\n';
    }
    std::cout.flush();
}

}  // namespace

int run_simulate(const common_options& common, const simulate_options& opts) {
    if (opts.devices < 1 || opts.devices > 2000) {
        throw failure(exit_usage, "--devices must be between 1 and 2000");
    }
    if (!wire::valid_identifier(opts.party) || !wire::valid_identifier(opts.prefix + "1-dev")) {
        throw failure(exit_usage, "--party and --prefix must be identifiers ([A-Za-z0-9._-])");
    }
    const auto broker = parse_broker(common.broker);
    std::mt19937_64 rng(opts.seed != 0 ? opts.seed : std::random_device{}());
    std::vector<std::unique_ptr<device>> devices;
    for (int i = 1; i <= opts.devices; ++i) {
        auto d = std::make_unique<device>();
        d->key = {opts.prefix + std::to_string(i), opts.prefix + std::to_string(i) + "-dev"};
        d->party = opts.party;
        d->display_name = "Sim " + std::to_string(i);
        d->rng.seed(rng());
        d->session = random_session(d->rng);
        client_options co;
        co.client_id = d->key.device_id;
        co.username = d->key.user_id;
        co.password = common.password;
        if (opts.key_file) {
            // Each device is its own user: it needs its own token (sub = its user id).
            const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(
                std::max<std::chrono::milliseconds>(opts.duration.value_or(std::chrono::hours(24)),
                                                    std::chrono::hours(24)));
            co.password = mint_for(*opts.key_file, d->key.user_id, token::role::app, ttl);
        }
        co.mqtt5 = false;
        co.will = d->will_for(d->session);
        device* raw = d.get();
        co.on_connected = [raw] { raw->on_connected(); };
        co.on_lost = [raw] { raw->on_lost(); };
        d->conn = std::make_unique<client>(std::move(co));
        devices.push_back(std::move(d));
    }
    for (auto& d : devices) d->conn->connect_async(broker, 2);

    const auto connect_deadline = std::chrono::steady_clock::now() + common.timeout +
                                  std::chrono::milliseconds(20) * opts.devices;
    for (;;) {
        int up = 0;
        for (auto& d : devices) up += d->conn->connected() ? 1 : 0;
        if (up == opts.devices) break;
        if (stop_requested.load() || std::chrono::steady_clock::now() > connect_deadline) {
            throw failure(exit_broker, std::to_string(up) + " of " + std::to_string(opts.devices) +
                                           " devices connected to " + common.broker + " in time");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!common.json) {
        std::cout << opts.devices << " devices joined party " << opts.party
                  << (opts.churn ? " (churning)" : "") << "; Ctrl-C leaves and stops\n";
    }
    for (auto& d : devices) say(common.json, "joined", *d);

    const auto start = std::chrono::steady_clock::now();
    auto next_churn = start + opts.churn_interval;
    while (!stop_requested.load()) {
        const auto now = std::chrono::steady_clock::now();
        if (opts.duration && now - start >= *opts.duration) break;
        if (opts.churn && now >= next_churn) {
            next_churn = now + opts.churn_interval;
            device& d = *devices[rng() % devices.size()];
            if (!d.conn->connected()) continue;
            switch (rng() % 4) {
                case 0: {  // leave or rejoin
                    std::lock_guard lock(d.mutex);
                    d.joined = !d.joined;
                    d.conn->publish(d.joined ? d.join_topic() : d.leave_topic(),
                                    wire::encode_session(d.session));
                    say(common.json, d.joined ? "rejoined" : "left", d);
                    break;
                }
                case 1:  // airplane mode: back after 2-8 s (inside the default grace period)
                    d.conn->set_reconnect_delay(2 + static_cast<int>(rng() % 7));
                    d.conn->drop();
                    say(common.json, "airplane", d);
                    break;
                case 2: {
                    std::lock_guard lock(d.mutex);
                    d.display_name = "Sim " + d.key.user_id.substr(opts.prefix.size()) + " *";
                    d.conn->publish(wire::inbound_topic(wire::inbound_kind::profile, d.key),
                                    wire::encode_profile(core::profile{d.display_name, "", ""}));
                    say(common.json, "renamed", d);
                    break;
                }
                default:
                    break;  // a quiet tick
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // Leave cleanly so the demo party empties at once rather than after the grace period.
    for (auto& d : devices) {
        if (!d->conn->connected()) continue;
        std::lock_guard lock(d->mutex);
        d->conn->publish(d->leave_topic(), wire::encode_session(d->session));
        d->conn->disconnect();
    }
    devices.clear();
    if (!common.json) std::cout << "simulated devices left\n";
    return exit_ok;
}

}  // namespace presence::ctl
