#pragma once
// The simulated world: apps on flapping devices, the broker between them and the controller, the
// controller itself (the real engine behind the real codec) and its retained store, and the ground
// truth the checker compares against. One world is one seed; everything in it is deterministic.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "presence/core/engine.hpp"
#include "presence/host/host.hpp"
#include "presence/wire/wire.hpp"
#include "rng.hpp"

namespace presence::sim {

using core::duration;
using core::time_point;
using namespace std::chrono_literals;

// A fault deliberately planted in the controller, so the checker can be shown to fail.
// drop_close (plugin mode) ignores every lifecycle disconnected event; drop_reassert ignores every
// join and leave an app re-asserts (so an input lost after its acknowledgement never heals).
enum class injected_fault { none, drop_will, drop_close, drop_reassert };

// The shape and fault rates of one run; derived from the seed except where the CLI overrides.
struct sim_config {
    std::uint64_t seed = 1;
    int steps = 400;
    duration grace = 10s;
    duration keepalive_detect_min = 3s;  // 1.5 x a 2 s keepalive
    duration keepalive_detect_max = 4s;  // plus the broker's check interval
    duration max_delay = 500ms;          // broker -> controller delivery delay
    duration max_dup_delay = 800ms;      // how late a QoS 1 duplicate arrives
    duration ack_window = 500ms;         // messages delivered this recently are unacked at a crash
    duration max_downtime = 2s;          // controller restart downtime
    duration min_restart_gap = 6s;
    // One broker forwards a client id's publishes to the controller in the order it received them,
    // even across that client's connections; only wills overtake. True lets a device's
    // publishes from different connections reorder too, which no session-id scheme can survive.
    bool reorder_device_connections = false;
    // A crashed controller gets the messages it processed but had not acked yet once more.
    bool crash_redelivery = true;
    // Crash model part 2: in half the crashes inside a drain, each input the controller applied
    // but whose effects were not stored is, with 50 %, acknowledged and lost (Paho acks QoS 1 on
    // receipt): not redelivered. Only inputs may_lose_after_ack() allows.
    bool lost_after_ack = true;
    // Plugin mode: the plugin answers every controller subscription with a connection census
    // (off only for the checker's self-test: lost lifecycle events then never heal).
    bool census = true;
    // The apps' re-assertion (clients/js/src/party.ts, scaled to the 10 s grace): the confirm
    // timer's first delay, its cap (it doubles), and the least gap between two re-assertions
    // triggered by a snapshot that disagrees with the app's intent.
    duration reassert_first = 2s;
    duration reassert_max = 8s;
    duration reassert_min_gap = 1s;
    // Plugin mode: the broker runs the mosquitto_presence plugin, which publishes a connected and
    // a disconnected event for every connection (in broker order) and a retained broker epoch.
    // Apps also disconnect cleanly without a will or leave, takeovers never send a will, and the
    // broker crashes (no wills, no events) and restarts with a new epoch.
    bool plugin = false;
    duration max_broker_downtime = 2s;
    // The host's snapshot coalescing, drawn per seed: interval 0 (off) or comparable to the
    // delivery delays, and a small threshold so parties are both below and above it.
    duration snapshot_interval = duration::zero();
    std::size_t coalesce_above = 2;
    injected_fault fault = injected_fault::none;
    bool verbose = false;
    bool quiet_failures = false;  // the checker self-test expects failures; do not print them

    // How late the system may legitimately learn about a change of the truth.
    duration slack() const {
        return keepalive_detect_max + 2 * max_delay + max_downtime + max_dup_delay + ack_window +
               (plugin ? max_broker_downtime : duration::zero()) + 1s;
    }

    // How long a join lost after its acknowledgement may stay unhealed: the app's confirm timer
    // fires at most reassert_max after its last publish, the re-assertion then travels like any
    // input, and its confirmation may wait for a coalesced snapshot.
    duration heal_bound() const { return reassert_max + slack() + snapshot_interval; }
};

// One MQTT message on its way from the broker to the controller.
struct message {
    wire::inbound_kind kind = wire::inbound_kind::connect;
    std::size_t device = 0;
    std::size_t connection = 0;  // plugin_connection for the plugin's own publishes
    std::string party;           // join and leave only
    std::string session;
    std::string topic;
    std::string payload;
    time_point published{};
    time_point deliver_at{};
    std::uint64_t seq = 0;
    bool duplicate = false;
    bool reassert = false;  // an app's re-assertion of a join or leave it had already published
};

// The connection index of messages the plugin publishes (lifecycle events, the epoch).
inline constexpr std::size_t plugin_connection = static_cast<std::size_t>(-1);

// One MQTT connection of a device, as the broker and the ground truth see it.
struct connection {
    std::size_t device = 0;
    std::string session;
    std::uint64_t epoch = 0;  // plugin mode: the broker run and connection number
    std::uint64_t seq = 0;
    bool network_up = true;         // false once airplane mode silently killed it
    bool open = true;               // the broker still holds it
    time_point ended_at{};          // when it stopped carrying truth (network death or close)
    time_point detect_at{};         // when the broker's keepalive notices a dead network
    std::set<std::string> joined;   // parties joined on this connection, as the broker received
    std::deque<message> pending;    // received by the broker, not yet delivered
    std::deque<message> delivered;  // the last few delivered, for QoS 1 duplicates
    time_point last_deliver_at{};

    bool carries_truth() const { return network_up && open; }
};

// What an app on a device is doing.
enum class app_state { signed_out, online, unaware_dead, offline };

// The SDK's state of one party intent of an app (clients/js/src/party.ts: intent_, lastAssert_,
// retryTimer_, retryDelay_), plus what the app last saw of the party's retained snapshot.
struct party_intent {
    bool joined = true;                  // joined (true) or left
    time_point last_assert{};            // when the app last published this intent
    std::optional<time_point> retry_at;  // when the confirm timer fires; nullopt when not armed
    duration retry_delay{};              // the timer's delay; doubles up to reassert_max
    std::optional<std::string> seen;     // the retained snapshot payload last looked at
    bool listed_live = false;            // that snapshot lists the device live
    bool listed_any = false;             // that snapshot lists the device at all
};

// One device (MQTT client id) of a user, with its app's own memory.
struct device {
    core::device_key key;
    std::size_t user = 0;
    app_state state = app_state::signed_out;
    std::optional<std::size_t> conn;  // the app's current connection
    std::set<std::string> desired;    // parties the app wants to be in
    // Parties the server may still list: every party joined since the last sign-out that reached
    // the broker (a lost leave or a lagging snapshot cannot tell the app it is gone). Unlike the
    // SDK (whose signOut() forgets every intent), the app remembers them across a sign-in and
    // leaves them again after every connect.
    std::set<std::string> maybe_joined;
    std::map<std::string, party_intent> intents;  // per party joined or left since sign-in
    time_point notice_at{};                       // unaware_dead: when the app notices
    time_point reconnect_at{};                    // offline: when the app reconnects
    time_point last_deliver_at{};                 // of its latest publish, across its connections
};

// The truth about one (device, party) pair, for the ghost and false-leave invariants.
struct pair_truth {
    std::optional<time_point> last_true;   // the last instant it was truly connected and joined
    std::optional<time_point> true_since;  // when the current truly-joined stretch began
    // A join of this pair was acknowledged and lost in a controller crash at this time, and the
    // app has not seen itself listed since; reset when it does or when the truth ends.
    std::optional<time_point> lost_at;
    // A leave of this pair was acknowledged and lost: since when the app (online) has had its
    // chance to re-assert it (reset at each reconnect), and the last instant it was online to do
    // so (the device may be listed until then, and a grace period after). Reset when the app sees
    // the leave confirmed, joins again, or signs out.
    std::optional<time_point> leave_lost_at;
    std::optional<time_point> leave_lost_live;
};

// Counters printed in the summary line.
struct sim_stats {
    std::uint64_t steps = 0;
    std::uint64_t messages = 0;
    std::uint64_t restarts = 0;
    std::uint64_t takeovers = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t drops = 0;
    std::uint64_t wills = 0;
    std::uint64_t lifecycle_events = 0;
    std::uint64_t clean_disconnects = 0;
    std::uint64_t broker_crashes = 0;
    std::uint64_t lost_after_ack = 0;  // inputs acknowledged and lost in a controller crash
    std::uint64_t reasserts = 0;       // joins and leaves the apps re-published unconfirmed
    std::size_t max_members = 0;

    sim_stats& operator+=(const sim_stats& o);
};

// One seeded world. The driver calls step() repeatedly, then converge(); the checker inspects it.
class world {
  public:
    explicit world(const sim_config& config);

    // Advances the clock and runs one round of app actions, broker work and controller work.
    void step(bool faults);

    // Stops faults, lets everything deliver and expire, and syncs profiles; after_step runs after
    // every step so the checker still sees each one.
    void converge(const std::function<void()>& after_step);

    // The truth: the device's connection is open, its network up, and it joined the party on it.
    bool truly_joined(std::size_t device, const std::string& party) const;

    // Appends a line to the trace (kept short unless verbose).
    void trace(const std::string& line);

    const sim_config& config() const { return config_; }
    time_point now() const { return now_; }
    bool controller_up() const { return host_.has_value(); }
    const core::engine& engine() const { return host_->engine(); }
    const host::host& controller() const { return *host_; }
    const std::map<std::string, std::string>& retained() const { return retained_; }
    const std::vector<device>& devices() const { return devices_; }
    const std::vector<connection>& connections() const { return connections_; }
    const std::vector<std::string>& parties() const { return parties_; }
    const std::vector<core::profile>& profiles() const { return profiles_; }
    const pair_truth& truth(std::size_t device, const std::string& party) const;
    // What the controller's last drain (or restore) got to the broker, in order: all of it, or
    // a prefix when it crashed during the drain.
    const std::vector<wire::outbound>& last_published() const { return last_published_; }
    // Where each drain of this step begins in last_published() (a restore is one drain).
    const std::vector<std::size_t>& drain_starts() const { return drain_starts_; }
    bool effects_published() const { return effects_published_; }
    const std::deque<std::string>& trace_lines() const { return trace_; }
    sim_stats& stats() { return stats_; }
    std::string stamp() const;
    std::optional<std::size_t> device_of(const core::device_key& key) const;
    // The connection a device's engine view refers to: the newer of the one carrying its session
    // and (plugin mode) the one with its broker epoch and sequence.
    const connection* connection_of(std::size_t device, const core::device_view& view) const;

  private:
    void act(std::size_t device_index);
    void act_online(device& dev);
    void connect(device& dev);
    void publish(device& dev, wire::inbound_kind kind, const std::string& party = {},
                 bool reassert = false);
    void intend(device& dev, const std::string& party, bool joined);
    void reassert_all();
    void reassert(device& dev, const std::string& party, party_intent& intent, const char* why);
    bool apps_confirmed() const;
    bool may_lose_after_ack(const message& msg, const std::vector<const message*>& kept) const;
    std::set<std::uint64_t> lose_after_ack();
    void close(connection& conn, bool will, core::connection_end end = core::connection_end::lost);
    void enqueue_will(connection& conn);
    bool stored_member(std::size_t device, const std::string& party) const;
    message census() const;
    void publish_lifecycle(connection& conn, wire::inbound_kind kind, core::connection_end end);
    void enqueue_plugin(message msg);
    time_point device_tail(std::size_t device) const;
    void broker_crash();
    void broker_restart();
    bool broker_up() const { return !broker_down_; }
    void end_truth(const connection& conn, const std::string& party = {});
    void enqueue(connection& conn, message msg);
    void broker_work();
    void maybe_duplicate(bool faults);
    void controller_work(bool faults);
    void restart();
    void deliver(const message& msg);
    std::string device_text(const core::device_key& key) const;  // for verbose traces
    void deliver_due();
    void publish_effects();
    host::config host_config() const;
    void store(const std::vector<host::publish>& publishes, std::size_t count);
    void trace_notes();
    void refresh_truth();
    bool queues_empty() const;

    sim_config config_;
    rng rng_;
    time_point start_;
    time_point now_;
    std::vector<std::string> parties_;
    std::vector<core::profile> profiles_;  // the current profile of each user
    std::vector<device> devices_;
    std::vector<connection> connections_;
    std::map<std::pair<std::size_t, std::string>, pair_truth> truth_;
    std::optional<host::host> host_;
    time_point down_until_{};
    time_point last_restart_{};
    std::vector<message> replay_;           // redelivered first after a restart
    std::deque<message> recent_delivered_;  // global delivery log within the ack window
    std::vector<message> unstored_;  // applied since the last complete drain, in delivery order
    std::map<std::string, std::string> retained_;
    std::vector<wire::outbound> last_published_;
    std::vector<std::size_t> drain_starts_;
    bool effects_published_ = false;
    std::uint64_t next_seq_ = 0;
    // Plugin mode: the broker run, its connection counter, and the plugin's own publishes.
    std::uint64_t epoch_ = 0;
    time_point epoch_started_{};
    std::uint64_t next_conn_seq_ = 0;
    connection plugin_;
    bool broker_down_ = false;
    time_point broker_up_at_{};
    std::uint64_t next_session_ = 0;
    std::deque<std::string> trace_;
    sim_stats stats_;
};

}  // namespace presence::sim
