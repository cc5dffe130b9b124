#pragma once
// The controller's HTTP endpoints: GET /metrics (Prometheus text) and GET /healthz, served by
// cpp-httplib on its own threads from the latest metrics snapshot. The HTTP side never touches
// the engine: the loop thread hands it immutable snapshots.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "stats.hpp"

namespace httplib {
class Server;
}

namespace presence::controller {

// Whether the controller is healthy, and if not, why (the body of a 503).
struct health_verdict {
    bool ok = false;
    std::string reason;
};

// Healthy means: the retained state was restored, the broker connection is live, and the loop
// thread published a snapshot within `max_age` (it does so at least every few hundred ms).
health_verdict judge_health(const metrics_snapshot* m, std::chrono::steady_clock::time_point now,
                            std::chrono::steady_clock::duration max_age);

// Serves the endpoints from the latest published snapshot.
class http_server {
  public:
    explicit http_server(std::string version);
    ~http_server();
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    // Binds host:port and starts serving; false (with an error logged) when it cannot bind.
    bool start(const std::string& host, std::uint16_t port);
    // Stops serving and joins the server thread; safe to call twice.
    void stop();

    // Replaces the snapshot the endpoints read (any thread; the loop thread in practice).
    void publish(std::shared_ptr<const metrics_snapshot> snapshot);
    // True once after a scrape asked for fresh engine gauges, so the loop computes them.
    bool take_engine_stats_request() { return engine_stats_wanted_.exchange(false); }

  private:
    std::shared_ptr<const metrics_snapshot> current() const;
    std::shared_ptr<const metrics_snapshot> fresh_for_scrape();

    std::string version_;
    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
    mutable std::mutex mutex_;
    std::condition_variable published_;
    std::shared_ptr<const metrics_snapshot> current_;
    std::atomic<bool> engine_stats_wanted_{false};
};

}  // namespace presence::controller
