#include "scenario.hpp"

#include <algorithm>
#include <csignal>
#include <fstream>
#include <functional>
#include <queue>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "net.hpp"
#include "presence/common/rng.hpp"
#include "presence/testing/broker.hpp"
#include "presence/testing/process.hpp"
#include "presence/testing/temp_dir.hpp"
#include "presence/wire/wire.hpp"

namespace presence::bench {

namespace {

using namespace std::chrono_literals;
using wire::inbound_kind;

double seconds_between(clock_type::time_point a, clock_type::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

double micros_between(clock_type::time_point a, clock_type::time_point b) {
    return std::chrono::duration<double, std::micro>(b - a).count();
}

// The project's one seeded generator: the same stream on every standard library.
using rng = common::rng;

// Whether a topic is a party's protobuf snapshot (party/<p>/members).
bool is_members_topic(std::string_view topic) {
    wire::parsed_topic t;
    return wire::parse_topic(topic, t) == wire::topic_error::ok &&
           t.what == wire::topic_class::output && t.output == wire::output_kind::members && !t.json;
}

std::optional<std::size_t> index_after(std::string_view id, char prefix) {
    if (id.size() < 2 || id[0] != prefix) return std::nullopt;
    std::size_t v = 0;
    for (const char c : id.substr(1)) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<std::size_t>(c - '0');
    }
    return v;
}

std::string read_text(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

enum class op { none, joining, leaving, reconnecting };

struct device {
    std::string user, dev;
    conn_id conn = 0;
    bool has_conn = false;
    bool connected = false;  // CONNACK seen on the current connection
    bool silent = false;
    int session_no = 0;
    std::string session;
    int party = -1;          // ground truth: the party this device is in
    op pending = op::none;
    bool initial_join = true;
    bool failed = false;  // its first connection never got a CONNACK (out of descriptors)
    std::uint16_t packet_id = 0;
};

// The SDK's confirmation retry (clients/js/src/party.ts, CONFIRM_RETRY_MS): a change not visible
// after 5 s is published again, the delay doubling up to 60 s.
constexpr auto first_reassert_delay = std::chrono::milliseconds(5000);
constexpr auto max_reassert_delay = std::chrono::milliseconds(60000);

struct pending_change {
    clock_type::time_point t0;  // the first send: latency counts from here, re-asserts or not
    bool join = true;
    bool measured = false;
    std::size_t device = 0;
    std::uint64_t serial = 0;  // tells this change from a later one with the same key
    std::chrono::milliseconds retry_delay = first_reassert_delay;
    int reasserts = 0;
};

enum class role : std::uint8_t { device, events, counter, raw_pub, raw_sub, status, verify };

struct timer {
    clock_type::time_point at;
    std::size_t device;
    bool operator>(const timer& o) const { return at > o.at; }
};

// When to look again at one pending change; stale once the change is visible (the serial no
// longer matches the pending entry under `key`).
struct reassert_timer {
    clock_type::time_point at;
    std::uint64_t key = 0;
    std::uint64_t serial = 0;
    bool operator>(const reassert_timer& o) const { return at > o.at; }
};

class bench_run {
  public:
    explicit bench_run(const run_config& cfg) : cfg_(cfg), rng_(cfg.seed) {}

    run_result run();

  private:
    // --- processes
    void start_broker();
    void start_controller();
    pid_t controller_pid() const { return controller_ ? controller_->pid() : -1; }

    // --- connections
    conn_id open_role(role r, const std::string& client_id,
                      const std::vector<std::string>& filters);
    void open_device(std::size_t i);
    void on_connack(conn_id id, std::uint8_t code);
    void on_publish(conn_id id, const packet& p, clock_type::time_point now);
    void on_closed(conn_id id);
    void on_event(std::string_view payload, clock_type::time_point now);
    void on_snapshot(std::string_view topic, std::string_view payload, clock_type::time_point now);
    void visible(std::unordered_map<std::uint64_t, pending_change>::iterator it,
                 clock_type::time_point now);
    void publish(std::size_t i, inbound_kind kind, std::string_view party,
                 const std::string& payload);
    void expect(std::size_t i, int party, bool join, clock_type::time_point now);

    // --- load
    void pump(std::chrono::milliseconds wait = 1ms);
    template <class Pred>
    bool pump_until(Pred done, std::chrono::milliseconds timeout);
    void run_timers(clock_type::time_point now);
    void run_reasserts(clock_type::time_point now);
    void run_churn(clock_type::time_point now);
    void run_raw(clock_type::time_point now);
    bool one_change(clock_type::time_point now);
    void join(std::size_t i, int party, clock_type::time_point now);
    void leave(std::size_t i, clock_type::time_point now);
    std::optional<std::size_t> pick_idle_member();
    int party_for(std::size_t i);
    std::string party_id(int p) const { return "p" + std::to_string(p); }
    std::uint64_t key(int party, std::size_t dev) const {
        return (static_cast<std::uint64_t>(party) << 32) | dev;
    }
    bool quiet() const;

    // --- phases
    json_object window(double rate, double raw_rate, double seconds, const std::string& label);
    json_object ceilings() const;
    json_object verify();

    const run_config& cfg_;
    rng rng_;
    testing::temp_dir scratch_{"presence-bench"};
    std::filesystem::path dir_;
    std::uint16_t port_ = 0;
    std::unique_ptr<testing::process> broker_;
    std::unique_ptr<testing::process> controller_;
    std::unique_ptr<net_loop> net_;

    std::vector<role> roles_;
    std::vector<std::size_t> conn_device_;
    std::vector<device> devices_;
    std::unordered_map<std::uint64_t, pending_change> pending_;
    std::unordered_map<int, std::vector<std::size_t>> pending_by_party_;
    std::priority_queue<timer, std::vector<timer>, std::greater<>> timers_;
    std::priority_queue<reassert_timer, std::vector<reassert_timer>, std::greater<>>
        reassert_timers_;
    std::uint64_t next_serial_ = 0;
    std::uint64_t reasserts_ = 0;           // join/leave publishes repeated after 5 s, 10 s, ...
    std::uint64_t changes_reasserted_ = 0;  // changes that needed at least one of them
    std::uint64_t rejoins_ = 0;             // joins re-asserted after a reconnect
    conn_id events_ = 0, counter_ = 0, raw_pub_ = 0, raw_sub_ = 0, status_ = 0;
    std::string controller_status_;
    std::vector<std::uint64_t> last_revision_;
    std::vector<std::int64_t> members_seen_;
    std::uint64_t revision_gaps_ = 0, revision_backwards_ = 0, events_seen_ = 0;
    std::uint64_t unexpected_events_ = 0;

    // churn window
    double churn_rate_ = 0;
    clock_type::time_point churn_start_{};
    std::uint64_t churn_issued_ = 0;
    std::uint64_t churn_starved_ = 0;
    std::optional<clock_type::time_point> churn_paused_at_;  // quiet kill: no new changes
    double churn_paused_s_ = 0;
    bool measuring_ = false;
    std::vector<double> latency_us_;
    std::vector<double> all_latency_us_;
    std::uint64_t completed_ = 0;
    std::size_t initial_joins_ = 0;
    std::size_t failed_devices_ = 0;
    std::size_t max_live_ = 0;
    int big_members_ = 0;  // ground-truth size of party p0 when it is the big party
    std::vector<std::size_t> outside_;  // devices of the big party that are not in it now

    // raw hop
    double raw_rate_ = 0;
    clock_type::time_point raw_start_{};
    std::vector<clock_type::time_point> raw_sent_;
    std::vector<double> raw_us_;
    std::vector<double> all_raw_us_;
    std::size_t raw_payload_bytes_ = 0;
    std::uint64_t raw_received_ = 0;  // raw hops delivered, ever
    bool raw_ceiling_ = false;        // the raw ceiling windows have started
    std::uint8_t raw_generation_ = 0;  // the window raw probes belong to (top byte of their tag)

    // faults
    std::optional<clock_type::time_point> killed_at_, restarted_at_, online_at_, converged_at_;
    std::size_t outstanding_at_restart_ = 0;

    std::function<void(const packet&)> verify_hook_;
    std::string diffs_;  // the first few ghosts and false leaves, for the report
    void note_diff(const std::string& what) {
        if (std::count(diffs_.begin(), diffs_.end(), ';') < 10) diffs_ += what + "; ";
    }
    std::vector<std::string> problems_;
    std::vector<json_object> windows_;
    std::vector<json_object> raw_windows_;  // the broker's raw ceiling (raw_rate_steps)
    // The figures the summary picks the highest sustained rates from.
    struct window_figures {
        double offered = 0, observed_per_s = 0, p99_us = 0;
        bool sustained = false;  // nothing starved and everything observed
        double raw_offered = 0, raw_delivered_per_s = 0;
    };
    std::vector<window_figures> figures_;
};

void bench_run::start_broker() {
    port_ = testing::free_port();
    const auto state = dir_ / "broker-state";
    std::filesystem::create_directories(state);
    testing::config_rewrite rewrite;
    rewrite.port = port_;
    rewrite.persistence_dir = state;
    const auto conf = dir_ / "mosquitto.conf";
    std::ofstream out(conf);
    out << testing::rewrite_config(read_text(testing::config_path("dev-insecure")), rewrite);
    for (const auto& line : cfg_.broker_lines) out << line << '\n';
    broker_ = std::make_unique<testing::process>(
        std::vector<std::string>{"/usr/sbin/mosquitto", "-c", conf.string()},
        dir_ / "mosquitto.log");
    const auto deadline = clock_type::now() + 20s;
    while (!testing::port_accepts(port_)) {
        if (!broker_->running() || clock_type::now() > deadline) {
            throw std::runtime_error("mosquitto did not start; see " +
                                     (dir_ / "mosquitto.log").string());
        }
        std::this_thread::sleep_for(10ms);
    }
}

void bench_run::start_controller() {
    std::vector<std::string> argv{cfg_.controller_bin.string(),
                                  "--broker",
                                  "tcp://127.0.0.1:" + std::to_string(port_),
                                  "--grace",
                                  cfg_.grace,
                                  "--stats-interval",
                                  "5s",
                                  "--log-level",
                                  "warn"};
    if (!cfg_.snapshot_interval.empty()) {
        argv.insert(argv.end(), {"--snapshot-interval", cfg_.snapshot_interval});
    }
    if (!cfg_.coalesce_above.empty()) {
        argv.insert(argv.end(), {"--coalesce-above", cfg_.coalesce_above});
    }
    argv.insert(argv.end(), cfg_.controller_args.begin(), cfg_.controller_args.end());
    controller_status_.clear();
    controller_ = std::make_unique<testing::process>(argv, dir_ / "controller.log");
}

conn_id bench_run::open_role(role r, const std::string& client_id,
                             const std::vector<std::string>& filters) {
    connect_fields f;
    f.client_id = client_id;
    f.keepalive_s = 60;
    const auto id = net_->open(f);
    roles_.resize(id + 1, role::device);
    conn_device_.resize(id + 1, 0);
    roles_[id] = r;
    std::uint16_t pid = 1;
    for (const auto& filter : filters) net_->send(id, encode_subscribe_packet(pid++, filter, 0));
    return id;
}

void bench_run::open_device(std::size_t i) {
    auto& d = devices_[i];
    ++d.session_no;
    d.session = "s" + std::to_string(cfg_.seed) + "-" + std::to_string(i) + "-" +
                std::to_string(d.session_no);
    connect_fields f;
    f.client_id = d.dev;
    f.username = d.user;
    f.keepalive_s = static_cast<std::uint16_t>(cfg_.keepalive_s);
    f.will_topic = wire::inbound_topic(inbound_kind::will, {d.user, d.dev});
    f.will_payload = wire::encode_will(d.session);
    d.conn = net_->open(f);
    d.has_conn = true;
    d.connected = false;
    d.silent = false;
    roles_.resize(d.conn + 1, role::device);
    conn_device_.resize(d.conn + 1, 0);
    roles_[d.conn] = role::device;
    conn_device_[d.conn] = i;
}

void bench_run::publish(std::size_t i, inbound_kind kind, std::string_view party,
                        const std::string& payload) {
    auto& d = devices_[i];
    d.packet_id = static_cast<std::uint16_t>(d.packet_id % 65535 + 1);
    net_->send(d.conn, encode_publish_packet(wire::inbound_topic(kind, {d.user, d.dev}, party),
                                             payload, 1, d.packet_id));
}

void bench_run::on_connack(conn_id id, std::uint8_t code) {
    if (code != 0) {
        problems_.push_back("CONNACK refused with code " + std::to_string(code));
        return;
    }
    if (roles_[id] != role::device) return;
    const auto i = conn_device_[id];
    auto& d = devices_[i];
    if (d.conn != id) return;
    d.connected = true;
    core::profile prof{"User " + d.user.substr(1), "https://cdn.example.com/a/" + d.user + ".png",
                       ""};
    publish(i, inbound_kind::connect, {}, wire::encode_connect(d.session, prof));
    if (d.pending == op::reconnecting) d.pending = op::none;
    if (d.initial_join) {
        d.initial_join = false;
        ++initial_joins_;
        join(i, party_for(i), clock_type::now());
    } else if (d.party >= 0 && d.pending == op::none) {
        // Like the SDK after every reconnect: joins are idempotent, and this one heals a connect
        // or join that a controller killed after Paho acknowledged it.
        ++rejoins_;
        publish(i, inbound_kind::join, party_id(d.party), wire::encode_session(d.session));
    }
}

void bench_run::on_closed(conn_id id) {
    if (roles_[id] != role::device) {
        problems_.push_back("an observer connection was closed by the broker");
        return;
    }
    auto& d = devices_[conn_device_[id]];
    if (d.conn != id) return;
    d.connected = false;
    if (d.initial_join && !d.failed) {
        d.failed = true;
        ++failed_devices_;
    }
}

void bench_run::on_event(std::string_view payload, clock_type::time_point now) {
    core::party_event ev;
    if (wire::decode(payload, ev)) {
        ++unexpected_events_;
        return;
    }
    ++events_seen_;
    const auto p = index_after(ev.party_id, 'p');
    const auto u = index_after(ev.member.user_id, 'u');
    if (!p || !u || *p >= last_revision_.size() || *u >= devices_.size()) {
        ++unexpected_events_;
        return;
    }
    // A party that empties is deleted; when it is created again its revisions start afresh
    // (higher), which is not a gap. The member count seen in events tells the two apart.
    auto& last = last_revision_[*p];
    auto& count = members_seen_[*p];
    if (last != 0 && ev.revision > last + 1) ++revision_gaps_;
    if (ev.revision < last) ++revision_backwards_;
    last = std::max(last, ev.revision);
    if (ev.kind == core::event_kind::joined) ++count;
    if (ev.kind == core::event_kind::left && count > 0 && --count == 0) last = 0;

    const bool joined = ev.kind == core::event_kind::joined;
    const bool left = ev.kind == core::event_kind::left;
    if (!joined && !left) return;
    const auto it = pending_.find(key(static_cast<int>(*p), *u));
    if (it == pending_.end() || it->second.join != joined) return;
    visible(it, now);
}

void bench_run::visible(std::unordered_map<std::uint64_t, pending_change>::iterator it,
                        clock_type::time_point now) {
    const double us = micros_between(it->second.t0, now);
    if (it->second.measured) latency_us_.push_back(us);
    all_latency_us_.push_back(us);
    if (restarted_at_ && it->second.t0 < *restarted_at_ && outstanding_at_restart_ > 0 &&
        --outstanding_at_restart_ == 0) {
        converged_at_ = now;
    }
    auto& d = devices_[it->second.device];
    if (d.pending == op::joining || d.pending == op::leaving) d.pending = op::none;
    ++completed_;
    auto& list = pending_by_party_[static_cast<int>(it->first >> 32)];
    list.erase(std::remove(list.begin(), list.end(), it->second.device), list.end());
    pending_.erase(it);
}

// A snapshot makes a change visible too (the definition: the snapshot that lists the member, or
// the event). Only decoded when a change of that party is pending, and only with
// --snapshot-visibility: after a kill -9 a change can reach the snapshot while its event was lost
// with the controller.
void bench_run::on_snapshot(std::string_view topic, std::string_view payload,
                            clock_type::time_point now) {
    if (payload.empty()) return;
    const auto slash = topic.find('/', 6);
    const auto p = index_after(topic.substr(6, slash - 6), 'p');
    if (!p) return;
    const auto list = pending_by_party_.find(static_cast<int>(*p));
    if (list == pending_by_party_.end() || list->second.empty()) return;
    core::party_snapshot s;
    if (wire::decode(payload, s)) return;
    std::vector<std::size_t> listed;
    for (const auto& m : s.members) {
        if (const auto u = index_after(m.user_id, 'u')) listed.push_back(*u);
    }
    std::sort(listed.begin(), listed.end());
    const auto candidates = list->second;
    for (const auto d : candidates) {
        const auto it = pending_.find(key(static_cast<int>(*p), d));
        if (it == pending_.end()) continue;
        const bool in = std::binary_search(listed.begin(), listed.end(), d);
        if (in == it->second.join) visible(it, now);
    }
}

void bench_run::on_publish(conn_id id, const packet& p, clock_type::time_point now) {
    switch (roles_[id]) {
        case role::events:
            if (is_members_topic(p.topic)) {
                on_snapshot(p.topic, p.payload, now);
            } else {
                on_event(p.payload, now);
            }
            break;
        case role::raw_sub: {
            if (p.payload.size() < 8) break;
            std::uint64_t seq = 0;
            for (int b = 0; b < 8; ++b) {
                seq = (seq << 8) | static_cast<std::uint8_t>(p.payload[static_cast<std::size_t>(b)]);
            }
            const auto generation = static_cast<std::uint8_t>(seq >> 56);
            seq &= (std::uint64_t{1} << 56) - 1;
            if (generation == raw_generation_ && seq < raw_sent_.size()) {
                const double us = micros_between(raw_sent_[seq], now);
                ++raw_received_;
                if (!raw_ceiling_) all_raw_us_.push_back(us);
                if (measuring_) raw_us_.push_back(us);
            }
            break;
        }
        case role::status:
            controller_status_ = std::string(p.payload);
            if (controller_status_ == "online" && restarted_at_ && !online_at_) online_at_ = now;
            break;
        default:
            break;
    }
}

void bench_run::join(std::size_t i, int party, clock_type::time_point now) {
    auto& d = devices_[i];
    if (party == 0 && cfg_.big_party_members > 0) {
        ++big_members_;
        outside_.erase(std::remove(outside_.begin(), outside_.end(), i), outside_.end());
    }
    d.party = party;
    d.pending = op::joining;
    expect(i, party, true, now);
    publish(i, inbound_kind::join, party_id(party), wire::encode_session(d.session));
}

void bench_run::leave(std::size_t i, clock_type::time_point now) {
    auto& d = devices_[i];
    const int party = d.party;
    if (party == 0 && cfg_.big_party_members > 0) {
        --big_members_;
        outside_.push_back(i);
    }
    d.party = -1;
    d.pending = op::leaving;
    expect(i, party, false, now);
    publish(i, inbound_kind::leave, party_id(party), wire::encode_session(d.session));
}

// Records a change in flight and schedules its first re-assert.
void bench_run::expect(std::size_t i, int party, bool join, clock_type::time_point now) {
    const auto k = key(party, i);
    pending_change c;
    c.t0 = now;
    c.join = join;
    c.measured = measuring_;
    c.device = i;
    c.serial = ++next_serial_;
    pending_[k] = c;
    pending_by_party_[party].push_back(i);
    reassert_timers_.push({now + c.retry_delay, k, c.serial});
}

// A change still not visible is published again (the device's current session, the same topic),
// as the SDK's assert_() does; a visible change's timer finds no matching entry and is dropped.
// A device has one change in flight at a time, so a re-assert is never overtaken by the next one.
void bench_run::run_reasserts(clock_type::time_point now) {
    while (!reassert_timers_.empty() && reassert_timers_.top().at <= now) {
        const auto t = reassert_timers_.top();
        reassert_timers_.pop();
        const auto it = pending_.find(t.key);
        if (it == pending_.end() || it->second.serial != t.serial) continue;
        auto& c = it->second;
        const auto& d = devices_[c.device];
        if (d.connected && !d.silent) {
            const auto party = party_id(static_cast<int>(t.key >> 32));
            publish(c.device, c.join ? inbound_kind::join : inbound_kind::leave, party,
                    wire::encode_session(d.session));
            if (c.reasserts++ == 0) ++changes_reasserted_;
            ++reasserts_;
            c.retry_delay = std::min(c.retry_delay * 2, max_reassert_delay);
        }
        reassert_timers_.push({now + c.retry_delay, t.key, t.serial});
    }
}

int bench_run::party_for(std::size_t i) {
    if (static_cast<int>(i) < cfg_.big_party_members) return 0;
    const int first = cfg_.big_party_members > 0 ? 1 : 0;
    const int n = cfg_.parties - first;
    return first + static_cast<int>(rng_.index(static_cast<std::size_t>(std::max(1, n))));
}

std::optional<std::size_t> bench_run::pick_idle_member() {
    for (int tries = 0; tries < 16; ++tries) {
        const auto i = rng_.index(devices_.size());
        const auto& d = devices_[i];
        if (d.connected && !d.silent && d.pending == op::none && d.party >= 0) return i;
    }
    return std::nullopt;
}

bool bench_run::one_change(clock_type::time_point now) {
    const double r = rng_.unit();
    if (r < cfg_.drop_share + cfg_.airplane_share) {
        const auto i = pick_idle_member();
        if (!i) return false;
        auto& d = devices_[*i];
        d.pending = op::reconnecting;
        if (r < cfg_.drop_share) {
            net_->drop(d.conn);
            d.connected = false;
            const auto delay = std::chrono::milliseconds(200 + rng_.index(1800));
            timers_.push({now + delay, *i});
        } else {
            net_->silence(d.conn);
            d.silent = true;
            const auto delay = std::chrono::milliseconds(cfg_.keepalive_s * 1500 + 1000 +
                                                         static_cast<int>(rng_.index(2000)));
            timers_.push({now + delay, *i});
        }
        return true;
    }
    // The big party's devices hold its size near big_party_members: a leave when it is full, a
    // join (of a device that left) otherwise, so a "party of 10,000" stays one all along.
    std::optional<bool> want_member;
    if (cfg_.big_party_members > 0 && static_cast<int>(devices_.size()) <= cfg_.big_party_members) {
        want_member = big_members_ >= cfg_.big_party_members - 5;
    }
    for (int tries = 0; tries < 64; ++tries) {
        auto i = rng_.index(devices_.size());
        if (want_member && !*want_member) {  // a join: draw from the devices outside the party
            if (outside_.empty()) return false;
            i = outside_[rng_.index(outside_.size())];
        }
        auto& d = devices_[i];
        if (!d.connected || d.silent || d.pending != op::none) continue;
        if (want_member && *want_member != (d.party >= 0)) continue;
        if (d.party >= 0) {
            leave(i, now);
        } else {
            join(i, party_for(i), now);
        }
        return true;
    }
    return false;
}

void bench_run::run_timers(clock_type::time_point now) {
    while (!timers_.empty() && timers_.top().at <= now) {
        const auto i = timers_.top().device;
        timers_.pop();
        auto& d = devices_[i];
        if (d.has_conn) net_->drop(d.conn);
        open_device(i);
    }
}

void bench_run::run_churn(clock_type::time_point now) {
    if (churn_rate_ <= 0) return;
    if (churn_paused_at_) return;
    const auto due = static_cast<std::uint64_t>(
        (seconds_between(churn_start_, now) - churn_paused_s_) * churn_rate_);
    int budget = 4000;
    while (churn_issued_ < due && budget-- > 0) {
        if (!one_change(now)) ++churn_starved_;
        ++churn_issued_;
    }
}

void bench_run::run_raw(clock_type::time_point now) {
    if (raw_rate_ <= 0) return;
    const auto due = static_cast<std::size_t>(seconds_between(raw_start_, now) * raw_rate_);
    while (raw_sent_.size() < due) {
        const std::uint64_t seq = raw_sent_.size();
        // The top byte names the window, so a probe delivered after its window ended is not
        // matched with the send time of another window's probe.
        const std::uint64_t tag = (std::uint64_t{raw_generation_} << 56) | seq;
        std::string payload(std::max<std::size_t>(raw_payload_bytes_, 8), 'x');
        for (int b = 0; b < 8; ++b) {
            payload[static_cast<std::size_t>(b)] = static_cast<char>((tag >> (56 - 8 * b)) & 0xff);
        }
        raw_sent_.push_back(clock_type::now());
        net_->send(raw_pub_, encode_publish_packet("bench/raw", payload, 1,
                                                   static_cast<std::uint16_t>(seq % 65535 + 1)));
    }
}

void bench_run::pump(std::chrono::milliseconds wait) {
    net_->poll(wait);
    const auto now = clock_type::now();
    run_timers(now);
    run_reasserts(now);
    run_churn(now);
    run_raw(now);
    if (controller_ && !controller_->running() && !killed_at_) {
        throw std::runtime_error("presence-controller exited; see " +
                                 (dir_ / "controller.log").string());
    }
}

template <class Pred>
bool bench_run::pump_until(Pred done, std::chrono::milliseconds timeout) {
    const auto deadline = clock_type::now() + timeout;
    while (!done()) {
        if (clock_type::now() > deadline) return false;
        pump();
    }
    return true;
}

bool bench_run::quiet() const {
    if (!pending_.empty() || !timers_.empty()) return false;
    for (const auto& d : devices_) {
        if (d.failed) continue;
        if (!d.connected || d.pending != op::none) return false;
    }
    return true;
}

json_object bench_run::window(double rate, double raw_rate, double seconds,
                              const std::string& label) {
    const auto b0 = sample_process(broker_->pid());
    const auto c0 = sample_process(controller_pid());
    const double g0 = self_cpu_seconds();
    const auto bytes0 = net_->bytes_in(counter_);
    const auto completed0 = completed_;
    const auto reasserts0 = reasserts_;
    const auto reasserted0 = changes_reasserted_;
    const auto rejoins0 = rejoins_;
    latency_us_.clear();
    raw_us_.clear();
    measuring_ = true;
    churn_rate_ = rate;
    churn_issued_ = 0;
    churn_starved_ = 0;
    churn_paused_s_ = 0;
    churn_paused_at_.reset();
    const auto start = clock_type::now();
    churn_start_ = start;
    raw_rate_ = raw_rate;
    raw_start_ = start;
    raw_sent_.clear();
    ++raw_generation_;
    const auto raw_received0 = raw_received_;
    const auto end = start + std::chrono::duration_cast<clock_type::duration>(
                                 std::chrono::duration<double>(seconds));
    while (clock_type::now() < end) {
        if (cfg_.quiesce_s > 0 && cfg_.kill_at_s >= 0 && !killed_at_ && !churn_paused_at_ &&
            clock_type::now() >= start + std::chrono::duration_cast<clock_type::duration>(
                                             std::chrono::duration<double>(
                                                 std::max(0.0, cfg_.kill_at_s - cfg_.quiesce_s)))) {
            churn_paused_at_ = clock_type::now();
        }
        if (churn_paused_at_ && online_at_) {
            churn_paused_s_ += seconds_between(*churn_paused_at_, clock_type::now());
            churn_paused_at_.reset();
        }
        if (cfg_.kill_at_s >= 0 && !killed_at_ &&
            clock_type::now() >= start + std::chrono::duration_cast<clock_type::duration>(
                                             std::chrono::duration<double>(cfg_.kill_at_s))) {
            killed_at_ = clock_type::now();
            controller_->kill9();
        }
        if (killed_at_ && !restarted_at_ &&
            clock_type::now() >= *killed_at_ + std::chrono::duration_cast<clock_type::duration>(
                                                   std::chrono::duration<double>(cfg_.down_s)) &&
            controller_status_ == "offline") {
            start_controller();
            restarted_at_ = clock_type::now();
            outstanding_at_restart_ = pending_.size();
            if (outstanding_at_restart_ == 0) converged_at_ = restarted_at_;
        }
        pump();
    }
    const double elapsed = seconds_between(start, clock_type::now());
    const auto issued = churn_issued_ - churn_starved_;
    const auto raw_sent = raw_sent_.size();
    const auto raw_delivered = raw_received_ - raw_received0;
    churn_rate_ = 0;
    raw_rate_ = 0;
    const auto c1 = sample_process(controller_pid());
    const auto b1 = sample_process(broker_->pid());
    const double g1 = self_cpu_seconds();
    // Let the changes issued in the window land before counting bytes and completions.
    const bool drained = pump_until([&] { return pending_.empty(); }, 30s);
    const auto bytes1 = net_->bytes_in(counter_);
    const auto completed = completed_ - completed0;
    measuring_ = false;

    json_object w;
    w.add("label", label)
        .add("offered_changes_per_s", rate)
        .add("seconds", elapsed)
        .add("changes_issued", issued)
        .add("changes_starved", churn_starved_)
        .add("changes_observed", completed)
        .add("issued_changes_per_s", static_cast<double>(issued) / elapsed)
        .add("all_issued_changes_observed", drained)
        .add("reasserts", reasserts_ - reasserts0)
        .add("changes_reasserted", changes_reasserted_ - reasserted0)
        .add("rejoins_after_reconnect", rejoins_ - rejoins0)
        .add("join_leave_to_visible", summarize(latency_us_))
        .add("raw_hop", summarize(raw_us_))
        .add("raw_offered_per_s", raw_rate)
        .add("raw_sent_per_s", static_cast<double>(raw_sent) / elapsed)
        .add("raw_delivered_per_s", static_cast<double>(raw_delivered) / elapsed);
    const auto lat = summarize(latency_us_);
    const auto raw = summarize(raw_us_);
    if (raw.count > 0 && lat.count > 0) {
        w.add("ratio_p50_to_raw", lat.p50 / raw.p50).add("ratio_p99_to_raw", lat.p99 / raw.p99);
    }
    if (c0.ok && c1.ok) {
        w.add("controller_cpu_percent", 100 * (c1.cpu_s - c0.cpu_s) / elapsed)
            .add("controller_rss_kib", c1.rss_kib)
            .add("controller_hwm_kib", c1.hwm_kib);
    }
    if (b0.ok && b1.ok) {
        w.add("broker_cpu_percent", 100 * (b1.cpu_s - b0.cpu_s) / elapsed)
            .add("broker_rss_kib", b1.rss_kib);
    }
    w.add("loadgen_cpu_percent", 100 * (g1 - g0) / elapsed)
        .add("outbound_bytes", bytes1 - bytes0)
        .add("outbound_bytes_per_change",
             completed > 0 ? static_cast<double>(bytes1 - bytes0) / static_cast<double>(completed)
                           : 0.0);
    if (!drained) problems_.push_back(label + ": not every change was observed within 30 s");
    figures_.push_back({rate, static_cast<double>(completed) / elapsed, lat.p99,
                        drained && churn_starved_ == 0, raw_rate,
                        static_cast<double>(raw_delivered) / elapsed});
    return w;
}

// The max scenario's answers: the highest offered change rate that was sustained (nothing starved,
// everything observed) with p99 under 10 ms, the highest sustained at all, and the most raw hops
// per second the broker delivered with this client stack, plus their ratio.
json_object bench_run::ceilings() const {
    double under_10ms = 0, sustained = 0, most_observed = 0, raw = 0;
    for (const auto& f : figures_) {
        if (f.raw_offered > 0 && f.offered == 0) raw = std::max(raw, f.raw_delivered_per_s);
        if (f.offered <= 0) continue;
        most_observed = std::max(most_observed, f.observed_per_s);
        if (!f.sustained) continue;
        sustained = std::max(sustained, f.offered);
        if (f.p99_us < 10'000) under_10ms = std::max(under_10ms, f.offered);
    }
    json_object c;
    c.add("highest_rate_sustained_with_p99_under_10ms", under_10ms)
        .add("highest_rate_sustained", sustained)
        .add("most_changes_observed_per_s", most_observed);
    if (raw > 0) {
        c.add("raw_hops_delivered_per_s_max", raw)
            .add("changes_per_raw_hop_ratio", most_observed / raw);
    }
    return c;
}

json_object bench_run::verify() {
    // Everything settled: no change in flight, every device connected again.
    const bool settled = pump_until([&] { return quiet(); }, 90s);
    if (!settled) problems_.push_back("the load did not settle within 90 s");
    const auto settle_until = clock_type::now() + 1500ms;
    pump_until([&] { return clock_type::now() >= settle_until; }, 5s);

    std::unordered_map<std::string, core::party_snapshot> seen;
    std::size_t undecodable = 0;
    auto collect = net_->open([&] {
        connect_fields f;
        f.client_id = "bench-verify";
        f.keepalive_s = 60;
        return f;
    }());
    roles_.resize(collect + 1, role::verify);
    conn_device_.resize(collect + 1, 0);
    roles_[collect] = role::verify;
    auto last_message = clock_type::now();
    const auto handler_publish = [&](const packet& p) {
        core::party_snapshot s;
        if (wire::decode(p.payload, s)) {
            ++undecodable;
            return;
        }
        seen[s.party_id] = std::move(s);
        last_message = clock_type::now();
    };
    verify_hook_ = handler_publish;
    net_->send(collect, encode_subscribe_packet(1, "party/+/members", 0));
    const auto started = clock_type::now();
    pump_until(
        [&] {
            const auto now = clock_type::now();
            return now - started > 2s && now - last_message > 1500ms;
        },
        30s);
    verify_hook_ = nullptr;

    std::vector<std::vector<std::string>> truth(static_cast<std::size_t>(cfg_.parties));
    std::size_t truth_members = 0;
    for (const auto& d : devices_) {
        if (d.party >= 0) {
            truth[static_cast<std::size_t>(d.party)].push_back(d.user);
            ++truth_members;
        }
    }
    std::size_t ghosts = 0, false_leaves = 0, reconnecting = 0, listed = 0;
    for (int p = 0; p < cfg_.parties; ++p) {
        auto& want = truth[static_cast<std::size_t>(p)];
        std::sort(want.begin(), want.end());
        std::vector<std::string> got;
        if (auto it = seen.find(party_id(p)); it != seen.end()) {
            for (const auto& m : it->second.members) {
                got.push_back(m.user_id);
                if (m.state == core::member_state::reconnecting) ++reconnecting;
            }
            seen.erase(it);
        }
        std::sort(got.begin(), got.end());
        listed += got.size();
        std::vector<std::string> diff;
        std::set_difference(got.begin(), got.end(), want.begin(), want.end(),
                            std::back_inserter(diff));
        ghosts += diff.size();
        for (const auto& u : diff) note_diff("ghost " + party_id(p) + "/" + u);
        diff.clear();
        std::set_difference(want.begin(), want.end(), got.begin(), got.end(),
                            std::back_inserter(diff));
        false_leaves += diff.size();
        for (const auto& u : diff) note_diff("false leave " + party_id(p) + "/" + u);
    }
    for (const auto& [id, s] : seen) ghosts += s.members.size();  // parties nobody is in
    if (ghosts > 0) problems_.push_back("ghosts in retained snapshots: " + std::to_string(ghosts));
    if (false_leaves > 0) {
        problems_.push_back("false leaves in retained snapshots: " + std::to_string(false_leaves));
    }
    json_object v;
    v.add("settled", settled)
        .add("truth_members", static_cast<std::uint64_t>(truth_members))
        .add("snapshot_members", static_cast<std::uint64_t>(listed))
        .add("ghosts", static_cast<std::uint64_t>(ghosts))
        .add("false_leaves", static_cast<std::uint64_t>(false_leaves))
        .add("still_reconnecting", static_cast<std::uint64_t>(reconnecting))
        .add("undecodable_snapshots", static_cast<std::uint64_t>(undecodable))
        .add("first_differences", diffs_);
    return v;
}

run_result bench_run::run() {
    dir_ = cfg_.work_dir.empty() ? scratch_.path() : cfg_.work_dir;
    std::filesystem::create_directories(dir_);
    const auto fds = raise_fd_limit(static_cast<std::uint64_t>(cfg_.devices) * 2 + 8192);
    start_broker();
    net_handler h;
    h.on_connack = [this](conn_id id, std::uint8_t code) { on_connack(id, code); };
    h.on_publish = [this](conn_id id, const packet& p, clock_type::time_point now) {
        if (roles_[id] == role::verify) {
            if (verify_hook_) verify_hook_(p);
            return;
        }
        on_publish(id, p, now);
    };
    h.on_closed = [this](conn_id id) { on_closed(id); };
    net_ = std::make_unique<net_loop>(port_, std::move(h));

    status_ = open_role(role::status, "bench-status", {"presence/controller/status"});
    events_ = open_role(role::events, "bench-events",
                        cfg_.snapshot_visibility
                            ? std::vector<std::string>{"party/+/events", "party/+/members"}
                            : std::vector<std::string>{"party/+/events"});
    counter_ = open_role(role::counter, "bench-counter",
                         {"party/+/members", "party/+/members/json", "party/+/events",
                          "party/+/events/json", "presence/user/#"});
    raw_sub_ = open_role(role::raw_sub, "bench-raw-sub", {"bench/raw"});
    raw_pub_ = open_role(role::raw_pub, "bench-raw-pub", {});
    last_revision_.assign(static_cast<std::size_t>(cfg_.parties), 0);
    members_seen_.assign(static_cast<std::size_t>(cfg_.parties), 0);

    start_controller();
    if (!pump_until([&] { return controller_status_ == "online"; }, 30s)) {
        throw std::runtime_error("presence-controller did not come online");
    }
    const auto setup_start = clock_type::now();
    pump_until([&] { return clock_type::now() - setup_start > 500ms; }, 2s);
    const auto empty_controller = sample_process(controller_pid());

    // Ramp: connect every device and join its first party, at most join_rate per second. One
    // process can hold fd_limit sockets (and so can the broker, which inherits the limit); keep
    // headroom for the observers and the verification client.
    const auto device_budget = static_cast<int>(std::min<std::uint64_t>(
        static_cast<std::uint64_t>(cfg_.devices), fds > 200 ? fds - 200 : 0));
    if (device_budget < cfg_.devices) {
        problems_.push_back("only " + std::to_string(device_budget) + " of " +
                            std::to_string(cfg_.devices) +
                            " devices fit under the descriptor limit " + std::to_string(fds) +
                            " (RLIMIT_NOFILE hard limit; raising it needs CAP_SYS_RESOURCE)");
    }
    devices_.resize(static_cast<std::size_t>(device_budget));
    for (std::size_t i = 0; i < devices_.size(); ++i) {
        devices_[i].user = "u" + std::to_string(i);
        devices_[i].dev = "d" + std::to_string(i);
    }
    raw_payload_bytes_ = wire::encode_session("s1-1234-1").size();
    const auto ramp_start = clock_type::now();
    std::size_t opened = 0;
    const bool ramped = pump_until(
        [&] {
            const auto now = clock_type::now();
            const auto allowed = static_cast<std::size_t>(
                seconds_between(ramp_start, now) * cfg_.join_rate) + 1;
            while (opened < devices_.size() && opened < allowed &&
                   net_->connecting() < 4096) {
                open_device(opened++);
            }
            return initial_joins_ + failed_devices_ == devices_.size() && pending_.empty();
        },
        std::chrono::seconds(120 + cfg_.devices / 500));
    const double ramp_s = seconds_between(ramp_start, clock_type::now());
    // A ramp faster than the controller re-asserts the joins it backlogs for more than 5 s, as
    // real clients would; counted apart so the windows' figure stays about lost inputs.
    const auto ramp_reasserts = reasserts_;
    if (failed_devices_ > 0) {
        problems_.push_back(std::to_string(failed_devices_) + " devices could not connect (fd limit " +
                            std::to_string(fds) + ")");
    }
    if (!ramped) {
        problems_.push_back("ramp incomplete: " + std::to_string(initial_joins_) +
                            " joins sent, " +
                            std::to_string(pending_.size()) + " not observed");
    }
    max_live_ = net_->live_connections();
    const auto full_controller = sample_process(controller_pid());
    const auto full_broker = sample_process(broker_->pid());
    std::size_t members = 0;
    for (const auto& d : devices_) members += d.party >= 0 ? 1 : 0;

    if (cfg_.hold_s > 0) {
        const auto hold_end = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                                      std::chrono::duration<double>(cfg_.hold_s));
        windows_.push_back(window(cfg_.rate, cfg_.raw_rate, cfg_.hold_s, "hold"));
        pump_until([&] { return clock_type::now() >= hold_end; }, std::chrono::seconds(600));
    } else if (!cfg_.rate_steps.empty()) {
        for (const double r : cfg_.rate_steps) {
            windows_.push_back(
                window(r, cfg_.raw_rate, cfg_.window_s, "rate " + std::to_string(int(r))));
        }
    } else {
        windows_.push_back(window(cfg_.rate, cfg_.raw_rate, cfg_.window_s, "window"));
    }
    // The raw ceiling's hops (late ones included) stay out of the latency CDF, which compares
    // like with like.
    raw_ceiling_ = !cfg_.raw_rate_steps.empty();
    for (const double r : cfg_.raw_rate_steps) {
        raw_windows_.push_back(window(0, r, cfg_.window_s, "raw " + std::to_string(int(r))));
    }
    const auto live = net_->live_connections();

    run_result result;
    auto& j = result.json;
    j.add("scenario", cfg_.name)
        .add("devices_requested", cfg_.devices)
        .add("devices", static_cast<std::uint64_t>(devices_.size()))
        .add("parties", cfg_.parties)
        .add("big_party_members", cfg_.big_party_members)
        .add("snapshot_interval", cfg_.snapshot_interval)
        .add("coalesce_above", cfg_.coalesce_above)
        .add("keepalive_s", cfg_.keepalive_s)
        .add("controller_extra_args",
             [&] {
                 std::string all;
                 for (const auto& a : cfg_.controller_args) all += (all.empty() ? "" : " ") + a;
                 return all;
             }())
        .add("visible_on", cfg_.snapshot_visibility ? "first of snapshot or event" : "event")
        .add("broker_extra_config",
             [&] {
                 std::string all;
                 for (const auto& l : cfg_.broker_lines) all += l + "; ";
                 return all;
             }())
        .add("fd_limit", fds)
        .add("ramp_seconds", ramp_s)
        .add("ramp_reasserts", ramp_reasserts)
        .add("members_after_ramp", static_cast<std::uint64_t>(members))
        .add("devices_failed_to_connect", static_cast<std::uint64_t>(failed_devices_))
        .add("max_live_connections", static_cast<std::uint64_t>(max_live_))
        .add("live_connections_at_end", static_cast<std::uint64_t>(live));
    if (empty_controller.ok && full_controller.ok && members > 0) {
        j.add("controller_rss_empty_kib", empty_controller.rss_kib)
            .add("controller_rss_full_kib", full_controller.rss_kib)
            .add("controller_bytes_per_member",
                 1024.0 * (static_cast<double>(full_controller.rss_kib) -
                           static_cast<double>(empty_controller.rss_kib)) /
                     static_cast<double>(members));
    }
    if (full_broker.ok) j.add("broker_rss_full_kib", full_broker.rss_kib);
    j.add("windows", windows_);
    if (!raw_windows_.empty()) j.add("raw_windows", raw_windows_);
    if (windows_.size() > 1 || !raw_windows_.empty()) j.add("ceilings", ceilings());
    if (killed_at_) {
        json_object f;
        f.add("killed_after_s", seconds_between(churn_start_, *killed_at_));
        if (restarted_at_) {
            f.add("down_s", seconds_between(*killed_at_, *restarted_at_));
            if (online_at_) f.add("online_after_restart_s", seconds_between(*restarted_at_, *online_at_));
            if (converged_at_) {
                f.add("converged_after_restart_s", seconds_between(*restarted_at_, *converged_at_));
            } else {
                problems_.push_back("changes sent before the restart were never all observed");
            }
        }
        j.add("faults", f);
    }
    j.add("events_seen", events_seen_)
        .add("revision_gaps_seen", revision_gaps_)
        .add("revision_backwards_seen", revision_backwards_)
        .add("undecodable_events", unexpected_events_);
    if (cfg_.verify) j.add("ground_truth", verify());
    // Whole run (ramp, windows, drains and the settle wait before the ground-truth check).
    j.add("reasserts", reasserts_)
        .add("changes_reasserted", changes_reasserted_)
        .add("rejoins_after_reconnect", rejoins_);
    result.reasserts = reasserts_;
    result.changes_reasserted = changes_reasserted_;
    result.rejoins_after_reconnect = rejoins_;
    result.ramp_reasserts = ramp_reasserts;
    const auto all = summarize(all_latency_us_);
    j.add("all_changes_to_visible", all);
    result.latency_us = latency_us_;
    result.raw_us = raw_us_;
    if (windows_.size() > 1 || latency_us_.empty()) {
        result.latency_us = all_latency_us_;
        result.raw_us = all_raw_us_;
    }
    if (controller_) controller_->stop();
    broker_->stop();
    result.problems = problems_;
    result.ok = problems_.empty();
    std::vector<json_object> probs;
    std::string joined_problems;
    for (const auto& p : problems_) joined_problems += (joined_problems.empty() ? "" : "; ") + p;
    j.add("problems", joined_problems).add("ok", result.ok);
    return result;
}

}  // namespace

run_result run_scenario(const run_config& cfg) { return bench_run(cfg).run(); }

}  // namespace presence::bench
