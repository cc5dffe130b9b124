#pragma once
// The pure host around the engine: decoded MQTT messages and `now` in, publishes and the next
// wakeup out. It owns every decision between the broker and the engine (restore order and
// precedence, revision seeding through the engine, snapshot coalescing, query answers, the
// controller-private durable records, counters, and the order of publishes), so the controller
// that runs it in production and the simulation that runs it in tests run the same code.
// Single-threaded, no MQTT client, no clock reads, no threads, no logging: what a person should
// read is handed over as notes for the caller to log.

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "presence/core/engine.hpp"
#include "presence/host/coalesce.hpp"
#include "presence/host/counters.hpp"
#include "presence/wire/wire.hpp"

namespace presence::host {

// Tunables of the host; the controller fills them from its flags.
struct config {
    core::duration grace = std::chrono::minutes(2);
    // Coalescing of big parties' snapshots (see coalesce.hpp); 0 ms switches it off.
    std::chrono::milliseconds snapshot_interval{0};
    std::size_t coalesce_above = 256;
    bool json_twins = true;
    int output_qos = 1;  // public outputs; query replies and durable records are always QoS 1
    std::size_t max_payload_bytes = 16 * 1024;
    // Which notes to produce: building their text costs time, so a caller that would not log
    // them says so.
    bool info_notes = true;
    bool debug_notes = false;
};

// One inbound MQTT message as the client library delivered it.
struct message {
    std::string_view topic;
    std::string_view payload;
    std::optional<std::string_view> response_topic;  // MQTT 5; nullopt when absent
    std::string_view correlation_data;               // MQTT 5; empty when absent
};

// One retained message read back at start, for restore().
struct retained_message {
    std::string topic;
    std::string payload;
};

// One publish the caller must perform, in the order handed over.
struct publish {
    wire::outbound message;
    int qos = 1;
    std::string correlation_data;  // MQTT 5 correlation data of a query reply
    bool reply = false;            // a query reply
};

// Receives the publishes of one call, one by one, so the caller can send the first before the
// host has rendered the rest.
using sink = std::function<void(publish&&)>;

// Something the caller should log. rejected and query_dropped are warnings the caller
// rate-limits; info and debug are log levels.
struct note {
    enum class kind { info, debug, rejected, query_dropped };
    kind level = kind::info;
    std::string text;
};

// What restore() found and did, for counters and the log.
struct restore_report {
    std::size_t records = 0;     // controller-private user records restored
    bool broker_record = false;  // the controller-private broker-run record was restored
    std::size_t users = 0;       // public user records read
    std::size_t parties = 0;     // public snapshots read
    std::size_t rejected = 0;
    std::size_t republished = 0;  // public or private records that differed and were republished
    bool upgraded = false;        // no private records: restored from public records (upgrade)
};

// The order and precedence of host::restore alone, without the republishing, for a caller that
// drives its own engine (unit tests of the engine's restart behaviour): the same code path.
restore_report restore_engine(core::engine& engine, const std::vector<retained_message>& retained,
                              core::time_point now, bool coalescing);

// The host. Not movable: the engine asks it (through a callback bound to `this`) whether a big
// party's snapshot is wanted now.
class host {
  public:
    explicit host(const config& cfg);
    host(const host&) = delete;
    host& operator=(const host&) = delete;

    // Rebuilds the engine from what the broker retained, before any input: the private durable
    // records decide every user's devices and memberships (the newest record per user wins, and
    // it is never older than a public snapshot, because a drain publishes records first); the
    // public snapshots give revisions. Without any private record (a controller upgraded from
    // protocol v1.0) it restores from the public records and their legacy private fields. Then
    // it republishes every public snapshot, user record and private record that differs from
    // the restored truth, and clears those of parties and users that are gone.
    restore_report restore(const std::vector<retained_message>& retained, core::time_point now,
                           const sink& out);

    // Handles one inbound message: an input for the engine, or a query answered at once from
    // the current state. Effects of inputs wait for advance().
    void on_message(const message& msg, core::time_point now, const sink& out);

    // The client library lost the broker connection (it reconnects by itself); counted.
    void on_connection_lost();

    // Expires what is due, then publishes the effects of every input since the last call
    // (durable records of the touched users first, then the public messages in engine order)
    // and the coalesced snapshots that fell due. After a new broker epoch it also republishes
    // every record, snapshot and user record this drain did not already publish: the broker may
    // have restarted from an older autosave and hold stale retained copies.
    void advance(core::time_point now, const sink& out);

    // Publishes every pending coalesced snapshot, for a clean shutdown.
    void finish(const sink& out);

    // When advance() must run next even without input: the earlier of the next grace deadline
    // and the next coalesced snapshot; nullopt when nothing is scheduled.
    std::optional<core::time_point> next_wakeup() const;

    // Whether work is waiting for advance() (effects not yet drained).
    bool has_effects() const { return dirty_; }

    // Whether a big party's snapshot is held back by the coalescer (its retained snapshot may
    // lag the engine until then).
    bool snapshot_pending(std::string_view party_id) const;

    // How many coalesced snapshots are held back.
    std::size_t pending_snapshots() const { return coalescer_.pending(); }

    // Hands over the notes produced since the last call.
    std::vector<note> take_notes();

    // The engine, for read views (tests, the simulation's checker, metrics gauges).
    const core::engine& engine() const { return engine_; }
    const counters& counts() const { return counters_; }
    // The caller reports what became of the publishes it performed.
    void count_published() { ++counters_.published; }
    void count_publish_error() { ++counters_.publish_errors; }
    const config& settings() const { return cfg_; }

  private:
    void handle_query(const message& msg, const sink& out);
    void handle_input(const message& msg, core::time_point now);
    void tick_if_due(core::time_point now);
    void drain(const sink& out);
    void emit(const core::effect& effect, const sink& out);
    void emit_record(std::string_view user_id, const sink& out);
    void emit_snapshot_of(std::string_view party_id, const sink& out);
    bool emit_broker_record_if_changed(const sink& out);
    void republish_all(const sink& out);
    void decision_note(const wire::inbound& in, core::outcome outcome);
    void add_note(note::kind level, std::string text);
    bool want(note::kind level) const;

    config cfg_;
    snapshot_coalescer coalescer_;
    core::engine engine_;
    counters counters_;
    core::time_point now_{};
    bool dirty_ = false;
    bool republish_all_ = false;  // a new broker epoch was seen since the last advance()
    // The broker-run record last published (or restored), so a drain publishes it on change.
    std::optional<core::broker_record> broker_published_;  // nullopt: not written yet
    std::set<std::string, std::less<>> drained_parties_;  // snapshotted by the current drain
    std::set<std::string, std::less<>> drained_users_;    // recorded by the current drain
    std::vector<note> notes_;
    std::vector<wire::outbound> rendered_;  // reused by emit()
};

}  // namespace presence::host
