#pragma once
// Private state of the presence engine, shared by the files that implement it.
//
// Device representation (the rules table is in engine.hpp): a device is live (a connection is
// open) or lost (none is; a grace timer runs to its deadline), and it holds its current session
// id plus the list of its ended sessions. That list is the one record of "this session ended":
// the current session joins it the moment its connection dies (will, closed, reconciliation), and
// keeps its place while it stays current, so it is never evicted before a newer session arrives.
// When a device is forgotten (sign-out, expiry) its list moves into an engine-wide bounded set of
// tombstones, the same record for devices the engine no longer holds; a re-created device starts
// from it. session_over() is the only question asked of them.

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "presence/core/engine.hpp"
#include "presence/core/types.hpp"

namespace presence::core {

namespace detail {

// Orders grace timers by deadline, then by arming order, so expiry is deterministic.
using timer_key = std::pair<time_point, std::uint64_t>;

// The broker connection a device was last seen on through lifecycle events; 0 and 0 when none
// was. Within one epoch (broker run) seq grows with every accepted connection.
struct connection_ref {
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;
};

// What a lost device has that a live one has not: the grace deadline and its timer.
struct lost_link {
    time_point deadline{};
    timer_key timer{};
};

// One device of a user: live{session, connection} or lost{session, connection, deadline}.
struct device_rec {
    std::string session;  // the current session; empty when no input named one
    connection_ref connection;
    // nullopt: live (a connection is open). Set: lost (published as reconnecting); it expires
    // at the deadline unless a connect, a join naming a new session, or an opened revives it.
    std::optional<lost_link> lost;
    // The ended sessions, oldest first, at most max(1, engine_config::ended_sessions_kept): the
    // current session is in it exactly when its connection died (a lost device's always is; a
    // live one's is after a newer broker connection made the device live again before the app
    // named a new session). A vector, not a deque: an empty libstdc++ deque already holds ~600
    // bytes, which was a third of the memory per member.
    std::vector<std::string> ended;
    // Live only: the current session was named by a connect or join while the device was lost,
    // so it runs on a connection newer than `connection` whose opened event has not been applied
    // (it is still coming, or a killed controller acknowledged it and lost it). The first
    // reconciliation after a start or restore leaves such a device to the connection census,
    // which knows its connection, and the recorded connection's own late closed cannot end it.
    bool session_unplaced = false;
    std::set<std::string, std::less<>> parties;

    bool live() const { return !lost; }
    device_state state() const { return lost ? device_state::reconnecting : device_state::live; }
};

// One user and the devices the engine currently knows.
struct user_rec {
    core::profile prof;
    time_point last_seen{};
    std::map<std::string, device_rec, std::less<>> devices;
};

// A user's membership in one party: the devices of that user that joined it.
struct member_rec {
    time_point joined_at{};
    std::set<std::string, std::less<>> devices;
};

// One party: its members and the order they are published in.
struct party_rec {
    std::uint64_t revision = 0;
    time_point updated_at{};
    std::map<std::string, member_rec, std::less<>> members;
    std::set<std::pair<time_point, std::string>> join_order;
};

// What one input call touched in one party: members' views before the first change, in the
// order they were first touched, so the call's events can be derived by comparison.
struct party_change {
    std::vector<std::string> users;
    std::map<std::string, std::optional<member_view>, std::less<>> before;
};

// Session ids of forgotten devices, so a late duplicate connect of a signed-out or expired
// session is rejected even after the device and user records are gone.
class tombstones {
  public:
    explicit tombstones(std::size_t capacity) : capacity_(capacity) {}

    // Remembers that this session of this device has ended, evicting the oldest beyond capacity.
    void add(const device_key& device, std::string_view session);

    // Whether this session of this device ended and was forgotten recently enough to be kept.
    bool contains(const device_key& device, std::string_view session) const;

    // The remembered sessions of one device, so a re-created device record starts with them and
    // publishes them (a restarted controller has no tombstones but reads the retained records).
    std::vector<std::string> sessions_of(const device_key& device) const;

  private:
    std::size_t capacity_;
    std::deque<std::string> order_;
    std::set<std::string, std::less<>> keys_;
};

// The last broker connection of forgotten devices (bounded, oldest evicted first), so a late
// duplicate "opened" of a signed-out or expired device's connection is stale, not a revival.
class forgotten_connections {
  public:
    explicit forgotten_connections(std::size_t capacity) : capacity_(capacity) {}

    // Remembers the device's last connection, replacing an older record of the same device.
    void add(const device_key& device, std::uint64_t epoch, std::uint64_t seq);

    // The remembered connection of the device, if any.
    std::optional<std::pair<std::uint64_t, std::uint64_t>> find(const device_key& device) const;

    // Whether connection (epoch, seq) is the device's forgotten connection or an older one.
    bool covers(const device_key& device, std::uint64_t epoch, std::uint64_t seq) const;

  private:
    struct entry {
        std::uint64_t epoch = 0;
        std::uint64_t seq = 0;
        std::uint64_t stamp = 0;
    };
    std::size_t capacity_;
    std::uint64_t next_stamp_ = 0;
    std::map<device_key, entry> entries_;
    std::deque<std::pair<device_key, std::uint64_t>> order_;
};

}  // namespace detail

// The whole engine state plus the bookkeeping of the input call in progress. Every input runs
// begin(), mutates through the helpers (which record what they touch), then flush(now), which
// turns the recorded before-views into coalesced snapshots, events and user records.
struct engine::state {
    explicit state(engine_config config);

    outcome on_connect(const device_key& key, std::string_view session, const profile& prof,
                       time_point now);
    outcome on_will(const device_key& key, std::string_view session, time_point now);
    outcome on_disconnect(const device_key& key, std::string_view session, time_point now);
    outcome on_join(std::string_view party_id, const device_key& key, std::string_view session,
                    time_point now);
    outcome on_leave(std::string_view party_id, const device_key& key, std::string_view session,
                     time_point now);
    outcome on_profile(const device_key& key, const profile& prof, time_point now);
    outcome on_connection_opened(const device_key& key, std::uint64_t epoch, std::uint64_t seq,
                                 time_point now, time_point broker_time);
    outcome on_connection_closed(const device_key& key, std::uint64_t epoch, std::uint64_t seq,
                                 time_point now, time_point broker_time);
    outcome on_broker_epoch(std::uint64_t epoch, time_point now, time_point started_at);
    outcome on_census(std::uint64_t epoch, std::uint64_t last_seq,
                      const std::vector<census_entry>& open, time_point now, time_point started_at);
    void tick(time_point now);
    void restore(const user_presence& user);
    void restore(const party_snapshot& snapshot);
    std::size_t reconcile_restored(const user_presence& user);
    void restore(const user_record& record);
    void restore_party(std::string_view party_id, std::uint64_t revision, time_point updated_at);
    std::size_t seed_revisions(time_point now, bool every_party);
    void bump_revision(std::string_view party_id);
    std::optional<user_record> record(std::string_view user_id) const;
    void restore_device(const device_key& key, detail::device_rec& dev, const device_view& view);

    detail::user_rec* find_user(std::string_view user_id);
    detail::device_rec* find_device(const device_key& key);
    // Whether `session` of this device (nullptr: not held) has ended: the one test every input
    // uses. An empty session id names no particular session and has never ended.
    bool session_over(const device_key& key, const detail::device_rec* dev,
                      std::string_view session) const;
    void remember_ended(detail::device_rec& dev, std::string_view session) const;

    // What an input's broker epoch means (the lifecycle table in engine.hpp).
    enum class epoch_verdict { current, retired, older_run, first_seen, newer_run };
    epoch_verdict judge_epoch(std::uint64_t epoch, time_point broker_time, bool announced) const;
    bool is_retired(std::uint64_t epoch) const;
    void retire(std::uint64_t epoch);
    bool admit_epoch(std::uint64_t epoch, time_point broker_time, bool announced, time_point now);
    void adopt_epoch(std::uint64_t epoch, time_point broker_time, time_point now);
    void reconcile(std::uint64_t from_epoch, time_point now, bool first, bool confirming);
    outcome open_connection(const device_key& key, std::uint64_t epoch, std::uint64_t seq,
                            time_point now);
    outcome close_connection(const device_key& key, std::uint64_t epoch, std::uint64_t seq,
                             time_point now);

    // Makes the device lost until `deadline` (re-arming its timer); disarm makes it live.
    void arm(const device_key& key, detail::device_rec& dev, time_point deadline);
    void disarm(detail::device_rec& dev);
    // The one way a live device becomes lost (will, closed, reconciliation): lost until
    // now + grace, its current session ended. lose_connection also counts as the user's input
    // (last_seen); a reconciliation is not the user's input.
    void lose(const device_key& key, detail::device_rec& dev, time_point now);
    void lose_connection(const device_key& key, detail::device_rec& dev, time_point now);

    void touch_member(std::string_view party_id, std::string_view user_id);
    void touch_device_parties(const device_key& key, const detail::device_rec& dev);
    void touch_user(std::string_view user_id);

    detail::device_rec& connect_device(const device_key& key, std::string_view session,
                                       time_point now);
    void set_profile(std::string_view user_id, const profile& prof);
    void add_to_party(std::string_view party_id, const device_key& key, detail::device_rec& dev,
                      time_point now);
    void remove_from_party(std::string_view party_id, const device_key& key,
                           detail::device_rec& dev);
    void drop_device(const device_key& key);
    std::uint64_t first_revision(time_point now) const;

    device_view view_of(std::string_view device_id, const detail::device_rec& dev) const;
    member_view view_of(std::string_view user_id, const detail::member_rec& member) const;
    party_snapshot view_of(std::string_view party_id, const detail::party_rec& party) const;
    user_presence view_of(std::string_view user_id, const detail::user_rec& user) const;

    void begin(leave_reason reason);
    void flush(time_point now);
    std::vector<effect> take_effects();

    engine_config config_;
    std::map<std::string, detail::user_rec, std::less<>> users_;
    std::map<std::string, detail::party_rec, std::less<>> parties_;
    std::map<detail::timer_key, device_key> timers_;
    detail::tombstones tombstones_;
    detail::forgotten_connections forgotten_connections_;
    std::uint64_t broker_epoch_ = 0;     // 0: not known yet
    time_point epoch_since_{};           // earliest broker time known of the current epoch
    // False while the current epoch is tentative (first_seen: taken from a lifecycle event after
    // a restart); the broker's epoch message confirms it and reconciles the live devices then.
    bool epoch_reconciled_ = false;
    std::deque<std::uint64_t> retired_;  // oldest first, at most config_.retired_epochs_kept
    std::vector<reconciliation> reconciliations_;
    std::uint64_t next_timer_seq_ = 0;
    std::uint64_t highest_revision_ = 0;

    leave_reason reason_ = leave_reason::explicit_leave;
    std::map<std::string, detail::party_change, std::less<>> changed_parties_;
    std::set<std::string, std::less<>> changed_users_;
    std::vector<effect> effects_;
    std::set<std::string, std::less<>> deferred_snapshots_;  // with config_.defer_snapshots
};

}  // namespace presence::core
