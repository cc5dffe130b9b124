#pragma once
// The presence engine: parties, members, devices and grace timers. Single-threaded, no I/O, no
// clock reads, no logging. Inputs are method calls carrying `now`; outputs are effects the host
// drains with take_effects() and turns into MQTT publishes (see presence/wire/render.hpp).

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "presence/core/types.hpp"

namespace presence::core {

// Tunables of the engine.
struct engine_config {
    // How long a member whose devices all lost their connection stays listed as reconnecting.
    duration grace = std::chrono::minutes(2);
    // How many ended session ids each device remembers (at least one: a dead current session
    // is always remembered), so that late duplicates of a dead session's messages are stale.
    std::size_t ended_sessions_kept = 4;
    // How many session ids of forgotten devices (signed out or expired) the engine remembers, so
    // that a late duplicate connect of such a session is stale rather than a ghost revival.
    std::size_t forgotten_sessions_kept = 4096;
    // How many broker connections of forgotten devices the engine remembers, so that a late
    // duplicate "connected" event of such a connection is stale rather than a ghost revival.
    std::size_t forgotten_connections_kept = 4096;
    // How many retired broker epochs the engine remembers; an event of one of them is stale.
    std::size_t retired_epochs_kept = 8;
    // When true, take_effects() carries one snapshot (or clear) per party changed since the
    // previous take_effects(), placed first, instead of one per input call. A host that feeds a
    // burst of messages and then drains effects uses it, so a party of 10,000 members costs one
    // snapshot per burst rather than one per message. Revisions still advance once per input.
    bool defer_snapshots = false;
    // When set, asked before a changed party's snapshot is built: false means the host does not
    // want it now (it coalesces big parties and fetches snapshot() itself when due), so the
    // engine skips building it. Clears of emptied parties are always emitted.
    std::function<bool(std::string_view party_id, std::size_t members)> want_snapshot = nullptr;
};

// Engine state counts, for metrics and tests.
struct engine_stats {
    std::size_t parties = 0;
    std::size_t members = 0;
    std::size_t reconnecting_members = 0;
    std::size_t devices = 0;
    std::size_t live_devices = 0;
    std::size_t users = 0;
};

// The presence state machine. Identifiers are assumed valid: the wire layer validates them.
//
// State. A device is live (a connection is open) or lost (none is; published as reconnecting,
// it is forgotten at its deadline). It has a current session id (empty: none named yet), the
// broker connection (epoch, seq) it was last seen on, and a bounded list of its ended sessions.
// A session that a connect or join names while the device is lost is unplaced: it runs on a
// connection newer than the recorded one whose opened has not come (yet, or ever: a killed
// controller acknowledged it), until the next applied opened or closed places it.
// That list is the one way of knowing a session ended: the current session joins it when its
// connection dies, and a forgotten device's list lives on as tombstones. An input naming an
// ended session is stale; an empty session id names the current session. A message about a
// device the engine does not hold is stale if it names a tombstoned session, else unknown
// (connect and join create the device).
//
// Session policy (apps; the only policy without the plugin), per input as
// stale when | duplicate when | applied:
//   connect(s)     s ended | live on s, same profile | live on s, ending another current session
//                  (takeover); lost -> back; the profile is set
//   will(s)        s not current, or live again on a newer connection with s ended | lost |
//                  lost, deadline now + grace; s ends
//   disconnect(s)  s given and not current, or live again with s ended | - | leaves every party
//                  (sign_out), also when lost with s current; the device is forgotten
//   join(p, s)     s ended | in p, s empty or current | a new s connects first (a join alone never
//                  revives a lost device); joins p
//   leave(p, s)    s given and ended or not current | - (not in p: unknown) | leaves p at once
//   tick(now)      lost devices past their deadline are forgotten (reason timeout)
//
// Lifecycle policy (mosquitto_presence plugin only: a broker run is an epoch, and within it the
// broker numbers connections in accept order; on takeover the new opened precedes the old closed):
//   epoch e of an input                          verdict
//   retired (one of the last few replaced)       stale
//   the current epoch                            current; the broker's epoch message confirms a
//                                                tentative epoch and reconciles (devices seen on no
//                                                run and unplaced ones are left to the census)
//   unknown, and before the current run by the   stale (a late event of an older run); e retired
//   broker's clock
//   unknown, no epoch yet, a lifecycle event     tentative current, no reconciliation (it may be a
//                                                redelivery of an older run)
//   unknown otherwise                            newer run: the old epoch is retired and every live
//                                                device not seen on e goes lost (now + grace, its
//                                                session ends; last_seen unchanged), except,
//                                                at the first epoch message since a start or
//                                                restore, an unplaced one (left to the census)
//   opened(e, n)  stale if seen on (e, >n), or on (e, n) and lost; duplicate if live on (e, n);
//                 else live on (e, n) (lost -> back), session unchanged. An unknown device is
//                 created live, unless it was forgotten on (e, >=n) (stale).
//   closed(e, n)  stale if seen on (e, >n) (unknown device: stale if forgotten on (e, >=n), else
//                 unknown); duplicate if lost on (e, n), or unplaced and recorded on (e, n) (that
//                 connection ended before the session began); lost on another connection: records
//                 (e, n), deadline kept; live: exactly a will of the current session.
//   census(e, n, open)  the broker's open connections after every event up to n: first the epoch
//                 message of e (stale if retired or older); then opened(e, k) for each listed
//                 (d, k), and closed(e, k) for each live device not listed that is recorded on
//                 (e, k <= n), on no connection, or (unplaced) on another run. Heals events a
//                 killed controller acked.
// The outcome of opened and closed is the device's; epoch changes are reported through
// take_reconciliations(). Only opened makes a device live with its current session ended, so the
// will and disconnect rules that mention it never fire without the plugin.
//
// Effect rules: one input call changes a party's revision by exactly one and publishes at most
// one snapshot (or clear) per party, followed by that party's events, which all carry the
// snapshot's revision; parties go in party_id order, then one user record per touched user in
// user_id order. A new party's first revision is max(now in ms * 1000, highest revision this
// engine has seen + 1), so a re-created party never goes back in revision. last_seen is the time
// of the user's latest input (a will included), never of an expiry. A user whose last device is
// gone gets a final record (offline, no devices) and is then forgotten.
class engine {
  public:
    explicit engine(engine_config config = {});
    ~engine();
    engine(engine&&) noexcept;
    engine& operator=(engine&&) noexcept;
    engine(const engine&) = delete;
    engine& operator=(const engine&) = delete;

    // presence/connect: the device is live with this session and (unless empty) this profile.
    // A reconnecting member comes back without a leave; a new device becomes live.
    outcome on_connect(const device_key& device, std::string_view session_id,
                       const profile& profile, time_point now);

    // presence/will: the connection of session_id died. The device goes reconnecting with
    // deadline now + grace; members with no other live device go reconnecting.
    outcome on_will(const device_key& device, std::string_view session_id, time_point now);

    // presence/disconnect (sign-out): the device leaves every party at once (reason sign_out)
    // and is forgotten. An empty session id matches any session.
    outcome on_disconnect(const device_key& device, std::string_view session_id, time_point now);

    // party/<p>/join: the device joins the party. An unknown device becomes live.
    outcome on_join(std::string_view party_id, const device_key& device,
                    std::string_view session_id, time_point now);

    // party/<p>/leave: the device leaves the party at once; the member leaves (reason explicit)
    // when no other device of the user is in the party.
    outcome on_leave(std::string_view party_id, const device_key& device,
                     std::string_view session_id, time_point now);

    // presence/profile: the user's profile changes; every party of the user republishes.
    outcome on_profile(const device_key& device, const profile& profile, time_point now);

    // presence/lifecycle/connected: the broker accepted connection `seq` of broker run `epoch` for
    // this device. See the broker lifecycle rules above.
    // broker_time is the event's `at` on the broker's clock ({} when unknown), which orders
    // broker runs (see above).
    outcome on_connection_opened(const device_key& device, std::uint64_t epoch, std::uint64_t seq,
                                 time_point now, time_point broker_time = {});

    // presence/lifecycle/disconnected: connection `seq` of broker run `epoch` ended.
    outcome on_connection_closed(const device_key& device, std::uint64_t epoch, std::uint64_t seq,
                                 connection_end end, time_point now, time_point broker_time = {});

    // presence/broker/epoch: the broker run now serving. A new value, or the current one taken
    // from lifecycle events after a restart, reconciles (see above); the current one is then a
    // duplicate, a retired one stale.
    // started_at is the run's start on the broker's clock ({} when unknown).
    outcome on_broker_epoch(std::uint64_t epoch, time_point now, time_point started_at = {});

    // presence/broker/census: the broker's list of the app connections open in run `epoch`, after
    // every lifecycle event of connections up to `last_seq`. It first acts as the run's epoch
    // message (started_at as there); then every device the census lists is opened on its
    // connection (a lost connected event: live or back, no flicker), and every live device whose
    // recorded connection is of this run, numbered at most last_seq, or of no run, and that the
    // census does not list is closed like a will (a lost disconnected event: reconnecting, then
    // timeout). Devices of a connection above last_seq are newer than the census and untouched.
    // Applied when it changed anything, else a duplicate; stale for a retired or older run.
    outcome on_census(std::uint64_t epoch, std::uint64_t last_seq,
                      const std::vector<census_entry>& open, time_point now,
                      time_point started_at = {});

    // The current broker epoch; 0 until an input carried one.
    std::uint64_t broker_epoch() const;

    // The controller-private durable record of the broker runs the engine knows. The host
    // publishes it whenever it changes, before the other outputs of that drain.
    broker_record broker_state() const;

    // Rebuilds the broker-run knowledge from its durable record after a restart, before any
    // input, so a redelivered event of a retired or older run stays stale. The current epoch is
    // restored unconfirmed: the broker's epoch message, which follows every (re)subscription,
    // reconciles the live devices once more (a crash may have cut the drain that published the
    // reconciliation's device records).
    void restore(const broker_record& record);

    // Hands over the epoch changes acted on since the last call, oldest first, for logging.
    std::vector<reconciliation> take_reconciliations();

    // Expires every device whose grace deadline is <= now.
    void tick(time_point now);

    // The earliest pending grace deadline, so the host knows when to call tick().
    std::optional<time_point> next_deadline() const;

    // Rebuilds state from retained messages after a restart, before any input. Users first, then
    // parties; party snapshots win for the devices they list. Deadlines are carried over as they
    // are (an expired one fires at the next tick). No effects are queued.
    void restore(const user_presence& user);
    void restore(const party_snapshot& snapshot);

    // After every restore() call: a user record newer than a party's snapshot (its last_seen
    // later than the snapshot's updated_at) wins for that user's membership of the party. A
    // coalesced party publishes its snapshot up to one interval after its events, while user
    // records go out at once, so after a kill -9 the record can know of a join or leave that the
    // party's retained snapshot missed: a party the record lists gets the member back (with the
    // record's devices, joined at last_seen), a party it does not list loses the member. A
    // record that is not newer changes nothing. No effects are queued; the next change of the
    // party republishes its snapshot. Returns how many memberships it changed.
    std::size_t reconcile_restored(const user_presence& user);

    // The controller-private durable record of a user (see user_record), nullopt when the engine
    // does not know the user (forgotten: the host clears the record). The host publishes it
    // for every user a drain touched, before the public messages of that drain.
    std::optional<user_record> record(std::string_view user_id) const;

    // Rebuilds one user from its durable record after a restart, before any input: devices,
    // sessions, deadlines (re-armed as they are) and memberships; a party it names is created
    // with revision 0 until restore_party() gives it its published one. Each record is the
    // newest the controller published for that user, so it wins over any public snapshot: the
    // public snapshot of a coalesced party may lag it. No effects are queued.
    void restore(const user_record& record);

    // Gives a party rebuilt from durable records its published revision and update time (from
    // its retained snapshot). Unknown parties are ignored.
    void restore_party(std::string_view party_id, std::uint64_t revision, time_point updated_at);

    // Raises party revisions to at least the seed a new party would get at `now` (now in ms x
    // 1000): with every_party, all of them (the one revision rule for a restart after which
    // published events may lie beyond the retained snapshot, as with coalescing: every revision
    // published from now on is above any published before); without, only those still at 0 (no
    // retained snapshot gave them one). Returns how many parties it raised.
    std::size_t seed_revisions(time_point now, bool every_party);

    // Adds one to a restored party's revision, so a snapshot the host republishes because it
    // differs from the retained one never repeats a revision clients already hold.
    void bump_revision(std::string_view party_id);

    // Hands over the effects queued since the last call, in the order they must be published.
    std::vector<effect> take_effects();

    // Current views, for queries and tests. nullopt when the party or user is unknown.
    std::optional<party_snapshot> snapshot(std::string_view party_id) const;
    std::optional<user_presence> user(std::string_view user_id) const;
    std::vector<std::string> party_ids() const;
    // Every known user, sorted, so a host can republish every record (after a broker restart).
    std::vector<std::string> user_ids() const;
    // How many members a party has (0 when unknown), without building its snapshot, so a host
    // can refuse to build one that is too big to serve on demand.
    std::size_t member_count(std::string_view party_id) const;
    engine_stats stats() const;

  private:
    struct state;
    std::unique_ptr<state> state_;
};

}  // namespace presence::core
