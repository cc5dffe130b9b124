#include "presence/controller/controller.hpp"

#include <spdlog/spdlog.h>

#include <deque>
#include <malloc.h>
#include <thread>

#include "clock.hpp"
#include "http.hpp"
#include "query.hpp"
#include "presence/controller/coalesce.hpp"
#include "reject_log.hpp"
#include "restore.hpp"
#include "session.hpp"
#include "stats.hpp"

#ifndef PRESENCE_VERSION
#define PRESENCE_VERSION "unknown"
#endif

namespace presence::controller {

namespace {

constexpr std::string_view stats_topic = "presence/controller/stats";
constexpr auto max_wait = std::chrono::milliseconds(200);
// Inputs handled before effects are drained; a burst costs one snapshot per changed party.
constexpr std::size_t max_burst = 1000;
// How long a clean shutdown waits for refused publishes and unacknowledged ones.
constexpr auto shutdown_drain = std::chrono::seconds(5);
// How often the loop hands the HTTP endpoints a fresh metrics snapshot.
constexpr auto metrics_interval = std::chrono::milliseconds(100);
// How often the loop returns free heap to the kernel (malloc_trim).
constexpr auto trim_interval = std::chrono::seconds(10);

std::string session_part(std::string_view session_id) {
    return session_id.empty() ? std::string() : " session=" + std::string(session_id);
}

std::string current_session(const core::engine& engine, const core::device_key& device) {
    if (const auto user = engine.user(device.user_id)) {
        for (const auto& d : user->devices) {
            if (d.device_id == device.device_id)
                return d.session_id.empty() ? "none" : d.session_id;
        }
    }
    return "none";
}

// The controller's state for one run: the engine, its clock, the session and the counters.
class controller_loop {
  public:
    controller_loop(const config& cfg, session& mqtt, http_server* http)
        : cfg_(cfg),
          session_(mqtt),
          http_(http),
          engine_(core::engine_config{
              .grace = cfg.grace,
              .defer_snapshots = true,
              .want_snapshot = [this](std::string_view party_id, std::size_t members) {
                  return coalescer_.offer(party_id, members, std::chrono::steady_clock::now());
              }}),
          coalescer_(cfg.snapshot_interval, cfg.coalesce_above),
          next_stats_(std::chrono::steady_clock::now() + cfg.stats_interval) {}

    void restore(const retained_state& state) {
        for (const auto& u : state.users) engine_.restore(u);
        for (const auto& p : state.parties) engine_.restore(restart_revision(p));
        // A coalesced party's snapshot can lag its events; the user records (never coalesced)
        // carry the joins and leaves a kill -9 kept out of it.
        std::size_t reconciled = 0;
        for (const auto& u : state.users) reconciled += engine_.reconcile_restored(u);
        if (reconciled > 0) {
            spdlog::info("restore: {} memberships taken from user records newer than their "
                         "party's snapshot",
                         reconciled);
        }
        counters_.restored_users = state.users.size();
        counters_.restored_parties = state.parties.size();
        counters_.restore_rejected = state.rejected;
        restore_complete_ = state.complete;
    }

    // One pass: wait for input (bounded by the next grace deadline), handle the burst that is
    // queued, expire what is due, and publish every effect.
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
        worked = tick_if_due(clock_.now()) || worked;
        drain_effects();
        publish_due_snapshots(coalescer_.due(std::chrono::steady_clock::now()));
        flush();
        const auto done = std::chrono::steady_clock::now();
        if (worked) counters_.processing.observe(done - started);
        report(done);
    }

    // Publishes the final stats and everything still pending before a clean shutdown.
    void finish() {
        publish_due_snapshots(coalescer_.take_all());
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
        if (const auto deadline = engine_.next_deadline()) {
            wait = std::clamp(*deadline - clock_.now(), core::duration(0), wait);
        }
        if (const auto due = coalescer_.next_due()) {
            wait = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(
                                  *due - std::chrono::steady_clock::now()),
                              std::chrono::milliseconds(0), wait);
        }
        return wait;
    }

    bool tick_if_due(core::time_point now) {
        if (const auto deadline = engine_.next_deadline(); deadline && *deadline <= now) {
            engine_.tick(now);
            return true;
        }
        return false;
    }

    void handle(const mqtt::const_message_ptr& msg) {
        if (!msg) {
            ++counters_.connection_lost;
            spdlog::warn("connection to {} lost; Paho reconnects", cfg_.broker);
            return;
        }
        const auto now = clock_.now();
        tick_if_due(now);
        if (is_query_topic(msg->get_topic())) {
            serve_query(*msg);
            return;
        }
        wire::inbound in;
        const auto ec = wire::decode_inbound(msg->get_topic(), msg->get_payload(), in,
                                             wire::limits{cfg_.max_payload_bytes});
        if (ec) {
            reject(msg->get_topic(), ec);
            return;
        }
        const auto outcome = wire::apply(engine_, in, now);
        counters_.count(in.kind, outcome);
        log_decision(in, outcome);
        for (const auto& change : engine_.take_reconciliations()) {
            ++counters_.broker_epoch_changes;
            counters_.reconciled_devices += change.devices;
            spdlog::info("broker epoch changed from {} to {}: {} devices reconnecting",
                         change.from_epoch, change.to_epoch, change.devices);
        }
    }

    // Answers a query from the engine's current state (every input received before it included);
    // the reply joins the publish queue behind the effects already there.
    void serve_query(const mqtt::message& msg) {
        const auto& props = msg.get_properties();
        std::optional<std::string> response_topic;
        if (props.contains(mqtt::property::RESPONSE_TOPIC)) {
            response_topic = mqtt::get<std::string>(props, mqtt::property::RESPONSE_TOPIC);
        }
        std::string correlation;
        if (props.contains(mqtt::property::CORRELATION_DATA)) {
            correlation = mqtt::get<std::string>(props, mqtt::property::CORRELATION_DATA);
        }
        auto a = answer_query(
            engine_, {msg.get_topic(), msg.get_payload(), response_topic, cfg_.max_payload_bytes});
        counters_.count(a);
        if (a.drop != query_drop::none) {
            if (!query_drops_.admit(std::chrono::steady_clock::now())) return;
            spdlog::warn("query dropped topic={} reason={}{}", msg.get_topic(), to_string(a.drop),
                         response_topic ? " response_topic=" + *response_topic : std::string());
            return;
        }
        const auto kind = a.kind ? static_cast<std::size_t>(*a.kind) : wire::query_kind_count;
        spdlog::debug("query {} user={} device={} -> {}{}", query_kind_name(kind),
                      a.requester.user_id, a.requester.device_id, wire::to_string(a.status),
                      a.error.empty() ? std::string() : ": " + a.error);
        pending_.push_back({std::move(a.reply), 0, std::move(correlation), true});
    }

    void reject(const std::string& topic, std::error_code ec) {
        counters_.count(static_cast<wire::error>(ec.value()));
        if (!rejections_.admit(std::chrono::steady_clock::now())) return;
        spdlog::warn("rejected topic={} reason={}: {}", topic,
                     wire::to_string(static_cast<wire::error>(ec.value())), ec.message());
    }

    void log_decision(const wire::inbound& in, core::outcome outcome) {
        if (!spdlog::should_log(spdlog::level::info)) return;
        if (in.kind == wire::inbound_kind::broker_epoch) {
            spdlog::info("broker_epoch epoch={} -> {}", in.broker_epoch, core::to_string(outcome));
            return;
        }
        if (in.kind == wire::inbound_kind::lifecycle_connected ||
            in.kind == wire::inbound_kind::lifecycle_disconnected) {
            spdlog::info("{} user={} device={} epoch={} seq={}{} -> {}", wire::to_string(in.kind),
                         in.device.user_id, in.device.device_id, in.broker_epoch, in.connection_seq,
                         in.kind == wire::inbound_kind::lifecycle_disconnected
                             ? std::string(" end=") + core::to_string(in.end)
                             : std::string(),
                         core::to_string(outcome));
            return;
        }
        const std::string party = in.party_id.empty() ? std::string() : " party=" + in.party_id;
        if (outcome == core::outcome::stale) {
            spdlog::info("{}{} user={} device={}{} -> stale (current {})", wire::to_string(in.kind),
                         party, in.device.user_id, in.device.device_id, session_part(in.session_id),
                         current_session(engine_, in.device));
            return;
        }
        spdlog::info("{}{} user={} device={}{} -> {}", wire::to_string(in.kind), party,
                     in.device.user_id, in.device.device_id, session_part(in.session_id),
                     core::to_string(outcome));
    }

    // Renders and publishes effect by effect, so the first snapshot leaves before the rest of
    // the burst has been encoded.
    void drain_effects() {
        std::vector<wire::outbound> out;
        for (const auto& effect : engine_.take_effects()) {
            note(effect);
            admit(effect);
            out.clear();
            wire::render(effect, out, render_options());
            for (auto& o : out) pending_.push_back({std::move(o), 0, {}});
            flush();
        }
    }

    // Big parties' snapshots go through the coalescer (see coalesce.hpp), asked by the engine
    // through engine_config::want_snapshot before it builds one; events never wait. A clear
    // cancels the emptied party's pending snapshot.
    void admit(const core::effect& effect) {
        if (const auto* c = std::get_if<core::clear_snapshot>(&effect)) {
            coalescer_.cleared(c->party_id);
        }
    }

    // Renders the current snapshot of each party whose coalesced snapshot is due.
    void publish_due_snapshots(const std::vector<std::string>& parties) {
        std::vector<wire::outbound> out;
        for (const auto& party_id : parties) {
            auto snapshot = engine_.snapshot(party_id);
            if (!snapshot) continue;  // emptied since: its clear went out at once
            out.clear();
            wire::render(core::publish_snapshot{std::move(*snapshot)}, out, render_options());
            for (auto& o : out) pending_.push_back({std::move(o), 0, {}});
            ++counters_.coalesced_snapshots;
        }
    }

    wire::render_options render_options() const { return {.json_twins = cfg_.json_twins}; }

    // A coalescing controller may have published events up to one interval beyond the retained
    // snapshot it restarts from. Moving a restored party's revision up to the engine's seed for
    // new parties (now in ms x 1000) keeps every revision it publishes from now on above any it
    // published before the crash, so clients see a gap and re-read the snapshot instead of
    // mistaking new events for old ones.
    core::party_snapshot restart_revision(core::party_snapshot p) const {
        const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                clock_.now().time_since_epoch())
                                .count();
        const auto seed = static_cast<std::uint64_t>(std::max<std::int64_t>(now_ms, 0)) * 1000;
        if (coalescer_.enabled()) p.revision = std::max(p.revision, seed);
        return p;
    }

    void note(const core::effect& effect) {
        const auto* e = std::get_if<core::publish_event>(&effect);
        if (e == nullptr) return;
        const auto& ev = e->event;
        counters_.count(ev);
        if (ev.kind == core::event_kind::left && ev.reason == core::leave_reason::timeout) {
            ++counters_.grace_expiries;
            spdlog::info("expired party={} user={} rev={}", ev.party_id, ev.member.user_id,
                         ev.revision);
            return;
        }
        spdlog::debug("event party={} rev={} {} user={}{}", ev.party_id, ev.revision,
                      core::to_string(ev.kind), ev.member.user_id,
                      ev.kind == core::event_kind::left
                          ? std::string(" reason=") + core::to_string(ev.reason)
                          : std::string());
    }

    // Hands every queued publish to the session, in order. The session keeps what Paho refuses
    // and retries it after a short backoff, so nothing is dropped for being slow (session.hpp).
    void flush() {
        session_.retry(std::chrono::steady_clock::now());
        while (!pending_.empty()) {
            auto& front = pending_.front();
            // Query replies are QoS 1 (docs/protocol.md); the rest follows --output-qos.
            session_.publish(std::move(front.message), front.reply ? 1 : cfg_.output_qos,
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
        engine_stats_ = engine_.stats();
        engine_stats_at_ = now;
    }

    metrics_snapshot snapshot(std::chrono::steady_clock::time_point now) const {
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
        pending_.push_back({{std::string(stats_topic), to_json(m), true}, 0, {}});
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

    struct pending_publish {
        wire::outbound message;
        int attempts = 0;              // unused: the session keeps and retries refused publishes
        std::string correlation_data;  // MQTT 5 correlation data of a query reply
        bool reply = false;            // a query reply
    };

    const config& cfg_;
    session& session_;
    http_server* http_;  // null with --http-listen off or when it could not bind
    core::engine engine_;
    snapshot_coalescer coalescer_;
    engine_clock clock_;
    counters counters_;
    reject_log rejections_;
    reject_log query_drops_;
    std::deque<pending_publish> pending_;
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
