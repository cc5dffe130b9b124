#include "http.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>

namespace presence::controller {

namespace {

// How old the engine gauges may be before a scrape asks the loop for fresh ones, and how long
// the scrape waits for them before serving what it has.
constexpr auto engine_stats_max_age = std::chrono::seconds(1);
constexpr auto engine_stats_wait = std::chrono::seconds(1);
// The loop publishes at least every few hundred ms; this much silence means it is stuck.
constexpr auto loop_stall_limit = std::chrono::seconds(15);

constexpr std::string_view prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

health_verdict judge_health(const metrics_snapshot* m, std::chrono::steady_clock::time_point now,
                            std::chrono::steady_clock::duration max_age) {
    if (m == nullptr) return {false, "starting"};
    if (!m->h.restore_done) return {false, "restoring retained state from the broker"};
    if (!m->h.broker_connected) return {false, "broker connection down"};
    if (now - m->taken_at > max_age) {
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - m->taken_at);
        return {false,
                "run loop stalled: no progress for " + std::to_string(seconds.count()) + " s"};
    }
    return {true, "ok"};
}

http_server::http_server(std::string version)
    : version_(std::move(version)), server_(std::make_unique<httplib::Server>()) {
    // Two workers are plenty for a scraper and a health checker on a shared 2-core box.
    server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
    server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
        const auto snapshot = fresh_for_scrape();
        if (!snapshot) {
            res.status = 503;
            res.set_content("no metrics yet\n", "text/plain");
            return;
        }
        res.set_content(to_prometheus(*snapshot, version_), std::string(prometheus_content_type));
    });
    server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
        const auto snapshot = current();
        const auto verdict =
            judge_health(snapshot.get(), std::chrono::steady_clock::now(), loop_stall_limit);
        res.status = verdict.ok ? 200 : 503;
        res.set_content(verdict.reason + "\n", "text/plain");
    });
}

http_server::~http_server() { stop(); }

bool http_server::start(const std::string& host, std::uint16_t port) {
    if (!server_->bind_to_port(host, port)) {
        spdlog::error(
            "http: cannot listen on {}:{} (--http-listen); /metrics and /healthz are "
            "not served",
            host, port);
        return false;
    }
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    spdlog::info("http: serving /metrics and /healthz on {}:{}", host, port);
    return true;
}

void http_server::stop() {
    if (!thread_.joinable()) return;
    server_->stop();
    thread_.join();
}

void http_server::publish(std::shared_ptr<const metrics_snapshot> snapshot) {
    {
        std::lock_guard lock(mutex_);
        current_ = std::move(snapshot);
    }
    published_.notify_all();
}

std::shared_ptr<const metrics_snapshot> http_server::current() const {
    std::lock_guard lock(mutex_);
    return current_;
}

std::shared_ptr<const metrics_snapshot> http_server::fresh_for_scrape() {
    const auto asked = std::chrono::steady_clock::now();
    std::unique_lock lock(mutex_);
    if (current_ && asked - current_->engine_taken_at <= engine_stats_max_age) return current_;
    engine_stats_wanted_.store(true);
    published_.wait_for(lock, engine_stats_wait,
                        [&] { return current_ && current_->engine_taken_at >= asked; });
    return current_;
}

}  // namespace presence::controller
