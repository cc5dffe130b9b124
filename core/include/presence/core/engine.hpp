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
    // How many ended session ids each device remembers, so that late duplicates of a dead
    // session's messages are recognised as stale.
    std::size_t ended_sessions_kept = 4;
    // How many session ids of forgotten devices (signed out or expired) the engine remembers, so
    // that a late duplicate connect of such a session is stale rather than a ghost revival.
    std::size_t forgotten_sessions_kept = 4096;
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
// Session rules (the heart of race handling):
// - A device has at most one current session id. An empty session id means "unknown session".
// - A will whose session id is not the current one is stale and never touches the device.
// - Every session that ends (will, sign-out, replacement by a newer connect) is remembered
//   (bounded), and any later message naming it is stale: duplicates cannot resurrect it.
// - A connect with a new session id replaces the current session (takeover), live at once.
// - A join or leave without a session id applies to the device's current session. A join never
//   revives a reconnecting device unless it names a new session id; only a connect or such a join
//   does, because a join alone may be a late duplicate from the dead connection.
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

    // Expires every device whose grace deadline is <= now.
    void tick(time_point now);

    // The earliest pending grace deadline, so the host knows when to call tick().
    std::optional<time_point> next_deadline() const;

    // Rebuilds state from retained messages after a restart, before any input. Users first, then
    // parties; party snapshots win for the devices they list. Deadlines are carried over as they
    // are (an expired one fires at the next tick). No effects are queued.
    void restore(const user_presence& user);
    void restore(const party_snapshot& snapshot);

    // Hands over the effects queued since the last call, in the order they must be published.
    std::vector<effect> take_effects();

    // Current views, for queries and tests. nullopt when the party or user is unknown.
    std::optional<party_snapshot> snapshot(std::string_view party_id) const;
    std::optional<user_presence> user(std::string_view user_id) const;
    std::vector<std::string> party_ids() const;
    engine_stats stats() const;

private:
    struct state;
    std::unique_ptr<state> state_;
};

}  // namespace presence::core
