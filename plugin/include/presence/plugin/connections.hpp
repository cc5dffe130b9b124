#pragma once
// The connection table of the mosquitto_presence plugin: the lifecycle state machine
// (authenticated -> pending -> confirmed at the next TICK -> disconnected), takeover detection,
// token-expiry kicks, and the ordered stream of lifecycle events it produces. Pure: the broker
// glue feeds it callbacks and the current time, and publishes the events it returns.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "presence/token/token.hpp"

namespace presence::plugin {

// Opaque handle of one broker connection (the `struct mosquitto *`). Mosquitto reuses these
// pointers for later connections, so an entry lives only until its first disconnect.
using client_key = const void*;

// What the broker told us about a connection when it authenticated.
struct connection_info {
    std::string user;
    std::string device;
    token::role role = token::role::app;
    std::int64_t expires_s = 0;  // the token's exp
    std::uint32_t protocol_version = 0;
    bool clean_session = true;
    std::uint32_t keepalive_seconds = 0;
};

// How a connection ended; the values mirror presence.v1.ConnectionEnd.
enum class connection_end { unspecified = 0, lost = 1, taken_over = 2, kicked = 3 };

// One lifecycle event, in the order it must be published.
struct lifecycle_event {
    bool connected = true;  // false: disconnected
    std::uint64_t seq = 0;
    connection_info info;
    connection_end end = connection_end::unspecified;  // disconnected events only
    std::int64_t at_us = 0;                            // wall clock, microseconds
};

// The open app connections at one moment (a ConnectionCensus), ordered by seq: every connected
// event up to last_seq has been produced, so the census follows them on the ordered stream.
struct census {
    struct connection {
        std::string user;
        std::string device;
        std::uint64_t seq = 0;
    };
    std::uint64_t last_seq = 0;
    std::vector<connection> open;
    std::int64_t at_us = 0;
};

// Why an authenticated client is still refused by the table.
enum class admission {
    ok,
    device_held_by_other_user,   // another user's live connection has this client id
    session_owned_by_other_user  // another user's persistent session has this client id
};

// Tracks every authenticated connection. Only app connections produce events; controller
// connections are tracked for their role alone. Single-threaded, like the broker.
class connection_table {
  public:
    // Whether `info` may take its device id: a live connection of another user keeps it, so
    // nobody can kick someone else's device off by reusing its client id; nor can anyone resume
    // (and drain) another user's persistent session, the controller's included. Owners of
    // persistent sessions are remembered for the broker run, up to max_session_owners.
    admission check(const connection_info& info) const;

    // Bound on remembered persistent-session owners (bounded memory; beyond it, only live
    // connections are protected).
    static constexpr std::size_t max_session_owners = 1'000'000;

    // A successful BASIC_AUTH: assigns the next connection_seq (apps only) and marks the
    // connection pending. A live connection with the same device id is marked as taken over.
    void on_authenticated(client_key client, connection_info info, std::int64_t now_us);

    // MOSQ_EVT_DISCONNECT. Unknown clients (failed auth) and second disconnects are ignored.
    // The entry is kept (dead) until the next tick, so the ACL check of its Last Will still
    // knows its role.
    void on_disconnect(client_key client, std::int64_t now_us);

    // MOSQ_EVT_TICK: confirms pending connections, forgets dead ones, and returns the device
    // ids of live connections whose token expired (now marked as kicked); the glue kicks them.
    std::vector<std::string> on_tick(std::int64_t now_us);

    // The connection's identity, dead-but-not-yet-forgotten entries included; nullptr if none.
    const connection_info* find(client_key client) const;
    // Whether the connection is known and has already disconnected (awaiting the next tick).
    bool ended(client_key client) const;
    // The role of `user`'s offline persistent session `device` when it was opened with more
    // than app rights (the controller's), or nullptr: Mosquitto checks READ for messages it
    // queues for an offline session, and the controller's inbound queue must fill while it is
    // down (it drains it when it comes back). Remembered for the broker run, like the owner.
    const token::role* offline_session_role(const std::string& device,
                                            const std::string& user) const;

    // Events produced since the last call, in publishing order.
    std::vector<lifecycle_event> take_events();

    // A controller subscribed to the census topic (after every connect it resubscribes): the
    // next take_census() answers. A controller killed after acknowledging lifecycle events it
    // never acted on learns the truth from it (docs/protocol.md, "The connection census").
    void request_census() { census_requested_ = true; }
    // The census, once per request; call it after on_tick() and take_events(), so every open
    // connection it lists has had its connected event published first.
    std::optional<census> take_census(std::int64_t now_us);

    std::size_t live_count() const { return by_device_.size(); }
    std::size_t size() const { return entries_.size(); }
    std::uint64_t last_seq() const { return next_seq_ - 1; }

  private:
    struct entry {
        connection_info info;
        std::uint64_t seq = 0;  // 0 for controllers (no events)
        bool pending = true;
        bool alive = true;
        bool taken_over = false;
        bool kicked = false;
    };

    void confirm_all_pending(std::int64_t now_us);
    void emit(const entry& e, bool connected, connection_end end, std::int64_t now_us);

    std::unordered_map<client_key, entry> entries_;
    std::unordered_map<std::string, client_key> by_device_;       // live connections by client id
    std::unordered_map<std::string, std::string> session_owner_;  // client id -> user
    std::unordered_map<std::string, token::role> session_role_;   // client id -> non-app role
    std::map<std::uint64_t, client_key> pending_;                 // by seq: connected not yet sent
    std::vector<client_key> dead_;                                // forgotten at the next tick
    std::vector<lifecycle_event> events_;
    std::uint64_t next_seq_ = 1;
    bool census_requested_ = false;
};

}  // namespace presence::plugin
