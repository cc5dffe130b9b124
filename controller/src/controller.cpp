#include "presence/controller/controller.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <deque>
#include <thread>

#include "clock.hpp"
#include "http.hpp"
#include "presence/host/host.hpp"
#include "reject_log.hpp"
#include "restore.hpp"
#include "session.hpp"
#include "stats.hpp"

#ifndef PRESENCE_VERSION
#define PRESENCE_VERSION "unknown"
#endif

namespace presence::controller {

namespace {

constexpr std::string_view stats_topic = wire::controller_stats_topic;
constexpr auto max_wait = std::chrono::milliseconds(200);
// The exit status when the MQTT session is wedged in a reconnect loop (EX_TEMPFAIL: a
// supervisor should restart the controller).
constexpr int wedged_exit_code = 75;
// Inputs handled before effects are drained; a burst costs one snapshot per changed party.
constexpr std::size_t max_burst = 1000;
// How long a clean shutdown waits for refused publishes and unacknowledged ones.
constexpr auto shutdown_drain = std::chrono::seconds(5);
// How often the loop hands the HTTP endpoints a fresh metrics snapshot.
constexpr auto metrics_interval = std::chrono::milliseconds(100);
// How often the loop returns free heap to the kernel (malloc_trim).
constexpr auto trim_interval = std::chrono::seconds(10);

// The controller's state for one run: the host (engine, coalescer, restore, queries), the clock,
// the session, the outgoing queue and the logging. It moves bytes; the host decides.
class controller_loop {
  public:
    controller_loop(const config& cfg, session& mqtt, http_server* http)
        : cfg_(cfg),
          session_(mqtt),
          http_(http),
          host_(host::config{.grace = cfg.grace,
                             .snapshot_interval = cfg.snapshot_interval,
                             .coalesce_above = cfg.coalesce_above,
                             .json_twins = cfg.json_twins,
                             .output_qos = cfg.output_qos,
                             .max_payload_bytes = cfg.max_payload_bytes,
                             .info_notes = spdlog::should_log(spdlog::level::info),
                             .debug_notes = spdlog::should_log(spdlog::level::debug)}),
          sink_([this](host::publish&& p) { pending_.push_back(std::move(p)); }),
          flushing_sink_([this](host::publish&& p) {
              pending_.push_back(std::move(p));
              flush();
          }),
          next_stats_(std::chrono::steady_clock::now() + cfg.stats_interval) {}

    // Hands what the broker retained to the host; the republishes it asks for wait in the
    // queue until the session is connected.
    void restore(const retained_state& state) {
        host_.restore(state.messages, clock_.now(), sink_);
        log_notes();
        restore_complete_ = state.complete;
    }

    // One pass: wait for input (bounded by the host's next wakeup), handle the burst that is
    // queued, let the host expire and drain, and publish everything.
    // While the pending output is above its high-water mark the pass takes no input and runs no
    // timers (both would only add output): it waits for the broker to drain it, retrying what Paho
    // refused, and keeps the metrics fresh.
    void step() {
        flush();
        if (session_.input_paused()) {
            session_.wait_for_drain(retry_wait(metrics_interval));
            flush();
            report(std::chrono::steady_clock::now());
            return;
        }
        auto msg = session_.next(wait_time());
        const auto started = std::chrono::steady_clock::now();
        bool worked = false;
        if (msg) {
            worked = true;
            handle(*msg);
            for (std::size_t n = 1; n < max_burst; ++n) {
                auto more = session_.next(std::chrono::milliseconds(0));
                if (!more) break;
                handle(*more);
            }
        }
        const auto now = clock_.now();
        if (const auto wake = host_.next_wakeup(); wake && *wake <= now) worked = true;
        host_.advance(now, flushing_sink_);
        flush();
        log_notes();
        const auto done = std::chrono::steady_clock::now();
        if (worked) counters_.processing.observe(done - started);
        report(done);
    }

    // Publishes the final stats and everything still pending before a clean shutdown.
    void finish() {
        host_.finish(sink_);
        if (cfg_.stats_interval.count() > 0) publish_stats();
        flush();
        session_.drain(shutdown_drain);
    }

  private:
    // At most `wait`, and no longer than until the session's next retry of a refused publish.
    std::chrono::milliseconds retry_wait(std::chrono::milliseconds wait) const {
        if (const auto retry = session_.next_retry()) {
            wait = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(
                                  *retry - std::chrono::steady_clock::now()),
                              std::chrono::milliseconds(0), wait);
        }
        return wait;
    }

    std::chrono::milliseconds wait_time() const {
        auto wait = retry_wait(max_wait);
        if (const auto wake = host_.next_wakeup()) {
            wait = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(*wake - clock_.now()),
                              std::chrono::milliseconds(0), wait);
        }
        return wait;
    }

    void handle(const mqtt::const_message_ptr& msg) {
        if (!msg) {
            host_.on_connection_lost();
            spdlog::warn("connection to {} lost; Paho reconnects", cfg_.broker);
            return;
        }
        const auto& props = msg->get_properties();
        std::optional<std::string> response_topic;
        if (props.contains(mqtt::property::RESPONSE_TOPIC)) {
            response_topic = mqtt::get<std::string>(props, mqtt::property::RESPONSE_TOPIC);
        }
        std::string correlation;
        if (props.contains(mqtt::property::CORRELATION_DATA)) {
            correlation = mqtt::get<std::string>(props, mqtt::property::CORRELATION_DATA);
        }
        host_.on_message(
            {msg->get_topic(), msg->get_payload(),
             response_topic ? std::optional<std::string_view>(*response_topic) : std::nullopt,
             correlation},
            clock_.now(), sink_);
    }

    // Logs what the host noted; rejected inputs and dropped queries are rate-limited warnings.
    void log_notes() {
        const auto now = std::chrono::steady_clock::now();
        for (auto& n : host_.take_notes()) {
            switch (n.level) {
                case host::note::kind::info:
                    spdlog::info("{}", n.text);
                    break;
                case host::note::kind::debug:
                    spdlog::debug("{}", n.text);
                    break;
                case host::note::kind::rejected:
                    if (rejections_.admit(now)) spdlog::warn("{}", n.text);
                    break;
                case host::note::kind::query_dropped:
                    if (query_drops_.admit(now)) spdlog::warn("{}", n.text);
                    break;
            }
        }
    }

    // Hands every queued publish to the session, in order. The session keeps what Paho refuses
    // and retries it after a short backoff, so nothing is dropped for being slow (session.hpp).
    void flush() {
        session_.retry(std::chrono::steady_clock::now());
        while (!pending_.empty()) {
            auto& front = pending_.front();
            session_.publish(std::move(front.message), front.qos,
                             std::move(front.correlation_data));
            pending_.pop_front();
        }
    }

    void report(std::chrono::steady_clock::time_point now) {
        trim_heap(now);
        if (const auto n = rejections_.take_suppressed(now)) {
            spdlog::warn("suppressed {} rejected-input warnings", n);
        }
        if (const auto n = query_drops_.take_suppressed(now)) {
            spdlog::warn("suppressed {} dropped-query warnings", n);
        }
        if (http_ != nullptr) {
            const bool engine_wanted = http_->take_engine_stats_request();
            if (engine_wanted || now >= next_metrics_) {
                if (engine_wanted) refresh_engine_stats(now);
                http_->publish(std::make_shared<const metrics_snapshot>(snapshot(now)));
                next_metrics_ = now + metrics_interval;
            }
        }
        if (cfg_.stats_interval.count() <= 0 || now < next_stats_) return;
        next_stats_ = now + cfg_.stats_interval;
        publish_stats();
    }

    void refresh_engine_stats(std::chrono::steady_clock::time_point now) {
        engine_stats_ = host_.engine().stats();
        engine_stats_at_ = now;
    }

    metrics_snapshot snapshot(std::chrono::steady_clock::time_point now) {
        static_cast<host::counters&>(counters_) = host_.counts();
        metrics_snapshot m{counters_, engine_stats_, {}, now, engine_stats_at_, {}};
        m.h.restore_done = true;  // the loop runs only after the restore
        m.h.restore_complete = restore_complete_;
        m.h.broker_connected = session_.connected();
        m.h.broker_connects = session_.connects();
        m.out = session_.outbound();
        m.c.published = m.out.published;
        m.c.publish_errors = m.out.dropped + m.out.failed;
        m.h.publish_queue_depth = pending_.size() + m.out.kept;
        return m;
    }

    void publish_stats() {
        const auto now = std::chrono::steady_clock::now();
        refresh_engine_stats(now);
        const auto m = snapshot(now);
        pending_.push_back({{std::string(stats_topic), to_json(m), true}, cfg_.output_qos, {}});
        spdlog::info("{}", summary(m.c, m.engine));
    }

    // Hands the heap that bursts left free back to the kernel: glibc keeps it otherwise, and
    // the process RSS stays at the burst's high-water mark (docs/benchmarks.md, memory).
    void trim_heap(std::chrono::steady_clock::time_point now) {
        if (now < next_trim_) return;
        next_trim_ = now + trim_interval;
        const auto started = std::chrono::steady_clock::now();
        ::malloc_trim(0);
        spdlog::debug("malloc_trim took {} us",
                      std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count());
    }

    const config& cfg_;
    session& session_;
    http_server* http_;  // null with --http-listen off or when it could not bind
    host::host host_;
    host::sink sink_;           // queues a publish
    host::sink flushing_sink_;  // queues and flushes, so the first publish leaves at once
    engine_clock clock_;
    counters counters_;  // the host's, copied in for rendering, plus the processing histogram
    reject_log rejections_;
    reject_log query_drops_;
    std::deque<host::publish> pending_;
    std::chrono::steady_clock::time_point next_stats_;
    std::chrono::steady_clock::time_point next_metrics_{};
    std::chrono::steady_clock::time_point next_trim_ =
        std::chrono::steady_clock::now() + trim_interval;
    core::engine_stats engine_stats_{};
    std::chrono::steady_clock::time_point engine_stats_at_{};
    bool restore_complete_ = false;
};

int run_until_stopped(const config& cfg, const std::atomic<bool>& stop) {
    spdlog::info("presence-controller starting: broker={} client_id={} grace={}ms", cfg.broker,
                 cfg.client_id, cfg.grace.count());
    // Up before the restore, so /healthz says "restoring" rather than nothing while it runs.
    std::unique_ptr<http_server> http;
    if (cfg.http_enabled) {
        http = std::make_unique<http_server>(PRESENCE_VERSION);
        if (http->start(cfg.http_host, cfg.http_port)) {
            http->publish(std::make_shared<const metrics_snapshot>());
        } else {
            http.reset();
        }
    }
    const auto state = fetch_retained_state(cfg, stop);
    if (!state) return 0;
    session mqtt(cfg);
    controller_loop loop(cfg, mqtt, http.get());
    loop.restore(*state);
    if (!mqtt.connect(stop)) return 0;

    while (!stop.load()) {
        if (mqtt.wedged()) {
            // Nothing this process does gets the session out (docs/operations.md); a fresh
            // process restores from the broker's retained state and its queued input.
            spdlog::critical("the MQTT session to {} is wedged: {} connections in a row ended "
                             "within {} s; exiting (75) so the supervisor restarts the controller",
                             cfg.broker, session::wedged_after,
                             session::short_connection.count());
            if (http) http->stop();
            mqtt.shutdown();
            return wedged_exit_code;
        }
        try {
            loop.step();
        } catch (const mqtt::exception& e) {
            spdlog::error("MQTT error: {}", e.what());
            std::this_thread::sleep_for(max_wait);
        }
    }
    spdlog::info("stopping");
    if (http) http->stop();
    loop.finish();
    mqtt.shutdown();
    spdlog::info("stopped cleanly");
    return 0;
}

}  // namespace

int run(const config& cfg, const std::atomic<bool>& stop) {
    try {
        return run_until_stopped(cfg, stop);
    } catch (const mqtt::exception& e) {
        spdlog::critical("cannot use the broker: {}", e.what());
        return 1;
    } catch (const std::exception& e) {
        spdlog::critical("fatal: {}", e.what());
        return 1;
    }
}

}  // namespace presence::controller
