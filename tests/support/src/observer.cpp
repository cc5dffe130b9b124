#include "presence/testing/observer.hpp"

#include <mqtt/async_client.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>

#include "presence/wire/wire.hpp"

namespace presence::testing {

namespace {

std::string unique_client_id(std::string_view prefix) {
    static std::atomic<unsigned> counter{0};
    return std::string(prefix) + "-" + std::to_string(::getpid()) + "-" +
           std::to_string(counter.fetch_add(1));
}

}  // namespace

std::optional<double> json_number(std::string_view json, std::string_view key) {
    const std::string quoted = "\"" + std::string(key) + "\"";
    for (auto pos = json.find(quoted); pos != std::string_view::npos;
         pos = json.find(quoted, pos + 1)) {
        auto at = json.find_first_not_of(" \t\r\n", pos + quoted.size());
        if (at == std::string_view::npos || json[at] != ':') continue;
        at = json.find_first_not_of(" \t\r\n\"", at + 1);
        if (at == std::string_view::npos) return std::nullopt;
        const std::string rest(json.substr(at, 64));
        char* end = nullptr;
        const double value = std::strtod(rest.c_str(), &end);
        if (end == rest.c_str()) return std::nullopt;
        return value;
    }
    return std::nullopt;
}

observer::observer(const std::string& uri, std::vector<std::string> topics,
                   observer_options options) {
    const std::string id =
        options.client_id.empty() ? unique_client_id("observer") : options.client_id;
    client_ = std::make_unique<mqtt::async_client>(uri, id);
    client_->set_message_callback([this](mqtt::const_message_ptr msg) {
        received r{msg->get_topic(), msg->to_string(), msg->is_retained(),
                   std::chrono::steady_clock::now()};
        {
            std::lock_guard lock(mutex_);
            messages_.push_back(std::move(r));
        }
        changed_.notify_all();
    });
    auto builder = mqtt::connect_options_builder()
                       .mqtt_version(MQTTVERSION_3_1_1)
                       .clean_session(true)
                       .keep_alive_interval(std::chrono::seconds(30))
                       .connect_timeout(std::chrono::seconds(10))
                       .automatic_reconnect(false);
    if (!options.username.empty()) builder.user_name(options.username);
    if (!options.password.empty()) builder.password(options.password);
    client_->connect(builder.finalize())->wait();
    if (options.sync_topic) {
        sync_topic_ = "presence/test-sync/" + id;
        topics.push_back(sync_topic_);
    }
    if (!topics.empty()) {
        auto filters = mqtt::string_collection::create(topics);
        client_->subscribe(filters, std::vector<int>(topics.size(), 1))->wait();
    }
}

observer::~observer() {
    try {
        if (client_->is_connected()) client_->disconnect()->wait_for(std::chrono::seconds(5));
    } catch (...) {
        // A broker that is already gone cannot be said goodbye to; nothing to clean up.
    }
}

std::vector<received> observer::messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
}

std::vector<received> observer::messages_on(std::string_view topic) const {
    std::vector<received> out;
    std::lock_guard lock(mutex_);
    for (const auto& m : messages_) {
        if (m.topic == topic) out.push_back(m);
    }
    return out;
}

bool observer::wait_until(const std::function<bool(const std::vector<received>&)>& pred,
                          std::chrono::milliseconds timeout) const {
    // The predicate runs on a copy, outside the lock, so it may call the observer's accessors.
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t checked = 0;  // how many messages the last evaluation saw
    for (bool first = true;; first = false) {
        std::vector<received> copy;
        {
            std::unique_lock lock(mutex_);
            changed_.wait_until(lock, deadline,
                                [&] { return first || messages_.size() != checked; });
            copy = messages_;
        }
        if (pred(copy)) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        checked = copy.size();
    }
}

void observer::sync(std::chrono::milliseconds timeout) {
    if (sync_topic_.empty()) throw std::logic_error("observer::sync needs sync_topic");
    static std::atomic<unsigned> counter{0};
    const std::string token = "sync-" + std::to_string(counter.fetch_add(1));
    publish(sync_topic_, token);
    const bool seen = wait_until(
        [&](const std::vector<received>& ms) {
            for (const auto& m : ms) {
                if (m.topic == sync_topic_ && m.payload == token) return true;
            }
            return false;
        },
        timeout);
    if (!seen) throw std::runtime_error("observer::sync: round trip timed out");
}

std::vector<std::optional<core::party_snapshot>> observer::snapshots(std::string_view party) const {
    std::vector<std::optional<core::party_snapshot>> out;
    for (const auto& m : messages_on(wire::members_topic(party))) {
        if (m.payload.empty()) {
            out.emplace_back(std::nullopt);
            continue;
        }
        core::party_snapshot s;
        if (const auto ec = wire::decode(m.payload, s)) {
            throw std::runtime_error("undecodable snapshot on " + m.topic + ": " + ec.message());
        }
        out.emplace_back(std::move(s));
    }
    return out;
}

std::optional<core::user_record> observer::latest_record(std::string_view user) const {
    const auto all = messages_on(wire::controller_state_topic(user));
    if (all.empty() || all.back().payload.empty()) return std::nullopt;
    core::user_record r;
    if (wire::decode(all.back().payload, r)) {
        throw std::runtime_error("private record of " + std::string(user) + " does not decode");
    }
    return r;
}

std::optional<core::device_view> observer::recorded_device(std::string_view user,
                                                           std::string_view device) const {
    const auto r = latest_record(user);
    if (!r) return std::nullopt;
    for (const auto& d : r->devices) {
        if (d.device_id == device) return d;
    }
    return std::nullopt;
}

std::optional<core::party_snapshot> observer::latest_snapshot(std::string_view party) const {
    auto all = snapshots(party);
    if (all.empty()) return std::nullopt;
    return std::move(all.back());
}

bool observer::wait_snapshot(std::string_view party,
                             const std::function<bool(const core::party_snapshot*)>& pred,
                             std::chrono::milliseconds timeout) const {
    const std::string topic = wire::members_topic(party);
    return wait_until(
        [&](const std::vector<received>& ms) {
            for (auto it = ms.rbegin(); it != ms.rend(); ++it) {
                if (it->topic != topic) continue;
                if (it->payload.empty()) return pred(nullptr);
                core::party_snapshot s;
                if (wire::decode(it->payload, s)) return false;
                return pred(&s);
            }
            return pred(nullptr);
        },
        timeout);
}

std::vector<core::party_event> observer::events(std::string_view party) const {
    std::vector<core::party_event> out;
    for (const auto& m : messages_on(wire::events_topic(party))) {
        core::party_event e;
        if (const auto ec = wire::decode(m.payload, e)) {
            throw std::runtime_error("undecodable event on " + m.topic + ": " + ec.message());
        }
        out.push_back(std::move(e));
    }
    return out;
}

bool observer::wait_event(std::string_view party,
                          const std::function<bool(const core::party_event&)>& pred,
                          std::chrono::milliseconds timeout) const {
    const std::string topic = wire::events_topic(party);
    return wait_until(
        [&](const std::vector<received>& ms) {
            for (const auto& m : ms) {
                if (m.topic != topic) continue;
                core::party_event e;
                if (!wire::decode(m.payload, e) && pred(e)) return true;
            }
            return false;
        },
        timeout);
}

std::optional<double> observer::latest_stat(std::string_view key) const {
    const auto stats = messages_on(wire::controller_stats_topic);
    if (stats.empty()) return std::nullopt;
    return json_number(stats.back().payload, key);
}

bool observer::wait_stat(std::string_view key, const std::function<bool(double)>& pred,
                         std::chrono::milliseconds timeout) const {
    return wait_until(
        [&](const std::vector<received>& ms) {
            for (auto it = ms.rbegin(); it != ms.rend(); ++it) {
                if (it->topic != wire::controller_stats_topic) continue;
                const auto value = json_number(it->payload, key);
                return value && pred(*value);
            }
            return false;
        },
        timeout);
}

void observer::publish(const std::string& topic, const std::string& payload, bool retained) {
    client_->publish(topic, payload.data(), payload.size(), 1, retained)->wait();
}

const core::member_view* find_member(const core::party_snapshot* snapshot, std::string_view user) {
    if (snapshot == nullptr) return nullptr;
    for (const auto& m : snapshot->members) {
        if (m.user_id == user) return &m;
    }
    return nullptr;
}

}  // namespace presence::testing
