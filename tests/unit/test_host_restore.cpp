// The host's restore, driven like the controller drives it: MQTT messages in, publishes into a
// fake retained store, kill -9 after any prefix of a drain, a new host restored from the store.
// The cases of issue 10: in a coalesced party the private records, not the lagging snapshot,
// decide device state.

#include <doctest/doctest.h>

#include <map>
#include <set>

#include "presence/host/host.hpp"
#include "presence/wire/wire.hpp"

using namespace presence;
using namespace std::chrono_literals;

namespace {

const core::time_point t0{std::chrono::hours(24 * 365 * 56)};

// The broker's retained store: the last publish per topic wins, an empty payload clears.
struct store {
    std::map<std::string, std::string> retained;

    void apply(const host::publish& p) {
        if (!p.message.retained) return;
        if (p.message.payload.empty()) {
            retained.erase(p.message.topic);
        } else {
            retained[p.message.topic] = p.message.payload;
        }
    }
    std::vector<host::retained_message> messages() const {
        std::vector<host::retained_message> out;
        for (const auto& [t, p] : retained) out.push_back({t, p});
        return out;
    }
    std::optional<core::party_snapshot> snapshot(const std::string& party) const {
        const auto it = retained.find(wire::members_topic(party));
        if (it == retained.end()) return std::nullopt;
        core::party_snapshot s;
        REQUIRE_FALSE(wire::decode(it->second, s));
        return s;
    }
};

host::config coalescing() {
    return {.grace = 2s, .snapshot_interval = 1000ms, .coalesce_above = 2, .info_notes = false};
}

struct rig {
    store broker;
    std::unique_ptr<host::host> h = std::make_unique<host::host>(coalescing());
    core::time_point now = t0;
    std::vector<host::publish> last;  // the last drain, in order

    void send(wire::inbound_kind kind, const core::device_key& d, const std::string& payload,
              const std::string& party = {}) {
        const auto topic = wire::inbound_topic(kind, d, party);
        h->on_message({topic, payload, std::nullopt, {}}, now, [](host::publish&&) {});
    }
    void connect(const core::device_key& d, const std::string& session) {
        send(wire::inbound_kind::connect, d, wire::encode_connect(session, {d.user_id, "", ""}));
    }
    void join(const core::device_key& d, const std::string& party) {
        send(wire::inbound_kind::join, d, wire::encode_session(""), party);
    }
    void will(const core::device_key& d, const std::string& session) {
        send(wire::inbound_kind::will, d, wire::encode_will(session));
    }
    // One pass of the loop; only the first `keep` publishes reach the broker (kill -9).
    void drain(std::size_t keep = SIZE_MAX) {
        last.clear();
        h->advance(now, [&](host::publish&& p) { last.push_back(std::move(p)); });
        for (std::size_t i = 0; i < last.size() && i < keep; ++i) broker.apply(last[i]);
    }
    void advance(core::duration d) {
        now += d;
        drain();
    }
    void restart() {
        h = std::make_unique<host::host>(coalescing());
        report = h->restore(broker.messages(), now, [&](host::publish&& p) { broker.apply(p); });
    }
    host::restore_report report;  // of the last restart()
    const core::device_view* device(const std::string& user, const std::string& dev) {
        static std::optional<core::user_presence> u;
        u = h->engine().user(user);
        if (!u) return nullptr;
        for (const auto& d : u->devices) {
            if (d.device_id == dev) return &d;
        }
        return nullptr;
    }
};

const core::device_key ann{"ann", "ann-phone"}, ben{"ben", "ben-phone"}, cat{"cat", "cat-phone"};

// ann, ben and cat in party big (3 members > coalesce_above 2), everyone's snapshot retained.
void three_in_big(rig& r) {
    for (const auto* d : {&ann, &ben, &cat}) {
        r.connect(*d, d->user_id + "-s1");
        r.join(*d, "big");
        r.drain();
    }
    r.advance(1500ms);  // past the interval: the held snapshot went out
    REQUIRE(r.h->pending_snapshots() == 0);
    REQUIRE(r.broker.snapshot("big")->members.size() == 3);
}

}  // namespace

TEST_CASE("host_restore_device_back_before_the_crash_stays_present") {
    rig r;
    three_in_big(r);
    r.advance(1500ms);  // quiet: the will is a leading edge
    r.will(cat, "cat-s1");
    r.drain();
    REQUIRE(r.broker.snapshot("big")->members.back().state == core::member_state::reconnecting);
    r.connect(cat, "cat-s2");  // back within the interval: its snapshot is held back
    r.drain();
    REQUIRE(r.h->snapshot_pending("big"));
    r.restart();
    REQUIRE(r.device("cat", "cat-phone") != nullptr);
    CHECK(r.device("cat", "cat-phone")->state == core::device_state::live);
    CHECK(r.device("cat", "cat-phone")->session_id == "cat-s2");
    // The restore corrected the lagging retained snapshot at once, and nobody expires.
    CHECK(r.broker.snapshot("big")->members.back().state == core::member_state::present);
    r.advance(3s);
    CHECK(r.h->engine().member_count("big") == 3);
    CHECK(r.broker.snapshot("big")->members.size() == 3);
    CHECK(r.h->counts().grace_expiries == 0);
}

TEST_CASE("host_restore_device_dead_before_the_crash_expires_after_the_grace") {
    rig r;
    three_in_big(r);
    r.advance(1500ms);
    r.send(wire::inbound_kind::profile, ann, wire::encode_profile({"ann v2", "", ""}));
    r.drain();  // the leading edge
    r.will(cat, "cat-s1");
    r.drain();
    REQUIRE(r.h->snapshot_pending("big"));
    REQUIRE(r.broker.snapshot("big")->members.back().state == core::member_state::present);
    r.restart();
    REQUIRE(r.device("cat", "cat-phone") != nullptr);
    CHECK(r.device("cat", "cat-phone")->state == core::device_state::reconnecting);
    CHECK(r.h->engine().next_deadline() == r.now + 2s);
    r.advance(2500ms);
    CHECK(r.h->engine().member_count("big") == 2);
    CHECK(r.broker.snapshot("big")->members.size() == 2);
    CHECK(r.h->counts().grace_expiries == 1);
}

TEST_CASE("host_restore_after_any_prefix_of_a_drain_is_the_state_before_or_after_per_user") {
    for (std::size_t keep = 0; keep < 40; ++keep) {
        CAPTURE(keep);
        rig r;
        three_in_big(r);
        // One drain with changes of two users: ben leaves, cat dies.
        r.send(wire::inbound_kind::leave, ben, wire::encode_session(""), "big");
        r.will(cat, "cat-s1");
        r.drain(keep);
        const bool whole = keep >= r.last.size();
        // Private records lead the drain.
        REQUIRE(r.last.size() >= 2);
        CHECK(r.last[0].message.topic.starts_with(wire::controller_state_prefix));
        CHECK(r.last[1].message.topic.starts_with(wire::controller_state_prefix));
        r.restart();
        const auto snapshot = r.h->engine().snapshot("big");
        REQUIRE(snapshot.has_value());
        // The retained snapshot equals the restored state right after the restore.
        CHECK(wire::encode(*snapshot) == r.broker.retained.at(wire::members_topic("big")));
        const bool ben_left = keep >= 1;  // ben's record is first (user order)
        const bool cat_died = keep >= 2;
        CHECK((find_if(snapshot->members.begin(), snapshot->members.end(), [](const auto& m) {
                   return m.user_id == "ben";
               }) == snapshot->members.end()) == ben_left);
        const auto* c = r.device("cat", "cat-phone");
        REQUIRE(c != nullptr);
        CHECK((c->state == core::device_state::reconnecting) == cat_died);
        if (whole) break;
    }
}

TEST_CASE("host_restore_upgrades_from_public_records_with_legacy_fields") {
    rig r;
    r.connect(ann, "ann-s1");
    r.join(ann, "small");
    r.drain();
    // A v1.0 controller left no private records: no user records, no broker-run record.
    CHECK(r.broker.retained.contains(std::string(wire::controller_broker_state_topic)));
    for (auto it = r.broker.retained.begin(); it != r.broker.retained.end();) {
        const bool v11 = it->first.starts_with(wire::controller_state_prefix) ||
                         it->first == wire::controller_broker_state_topic;
        it = v11 ? r.broker.retained.erase(it) : std::next(it);
    }
    r.restart();
    REQUIRE(r.device("ann", "ann-phone") != nullptr);
    CHECK(r.device("ann", "ann-phone")->state == core::device_state::live);
    CHECK(r.h->engine().member_count("small") == 1);
    // The first restore writes the private records.
    CHECK(r.broker.retained.contains(wire::controller_state_topic("ann")));
}

TEST_CASE("host_restore_without_the_plugin_never_takes_the_upgrade_path_for_a_forgotten_user") {
    // Simulation seed 1891 reduced: without the plugin no lifecycle input ever writes the
    // broker-run record, so it used to be missing; a sign-out drain cut after its private record
    // was cleared left no private record at all, and the restart took the v1.0 upgrade path,
    // reviving ann from her stale public user record (live, no session: a ghost).
    for (std::size_t keep = 0; keep < 12; ++keep) {
        CAPTURE(keep);
        rig r;
        r.restart();  // a first start: the restore writes the broker-run record (the v1.1 marker)
        CHECK(r.broker.retained.contains(std::string(wire::controller_broker_state_topic)));
        r.connect(ann, "ann-s1");
        r.join(ann, "small");
        r.drain();
        r.send(wire::inbound_kind::disconnect, ann, wire::encode_session("ann-s1"));
        r.drain(keep);
        const bool whole = keep >= r.last.size();
        r.restart();
        CHECK_FALSE(r.report.upgraded);
        // Either the sign-out's private record landed (ann is gone) or nothing of it did.
        if (keep >= 1) {
            CHECK(r.device("ann", "ann-phone") == nullptr);
            CHECK(r.h->engine().member_count("small") == 0);
        } else {
            REQUIRE(r.device("ann", "ann-phone") != nullptr);
            CHECK(r.device("ann", "ann-phone")->session_id == "ann-s1");
        }
        if (whole) break;
    }
}

TEST_CASE("host_new_broker_epoch_republishes_every_record_snapshot_and_user_record") {
    rig r;
    r.connect(ann, "ann-s1");
    r.join(ann, "a");
    r.connect(ben, "ben-s1");
    r.join(ben, "b");
    r.send(wire::inbound_kind::broker_epoch, ann, wire::encode_broker_epoch(7));
    r.drain();
    r.advance(1s);
    // A broker restart (perhaps from an older autosave): a new epoch.
    r.send(wire::inbound_kind::broker_epoch, ann, wire::encode_broker_epoch(8));
    r.drain();
    std::set<std::string> topics;
    for (const auto& p : r.last) topics.insert(p.message.topic);
    for (const auto& t :
         {wire::members_topic("a"), wire::members_topic("b"), wire::user_topic("ann"),
          wire::user_topic("ben"), wire::controller_state_topic("ann"),
          wire::controller_state_topic("ben")}) {
        CAPTURE(t);
        CHECK(topics.contains(t));
    }
    std::map<std::string, int> seen;
    for (const auto& p : r.last) ++seen[p.message.topic];
    for (const auto& [t, n] : seen) {
        CAPTURE(t);
        CHECK(n == 1);
    }
}

// Plugin seed 19135 of the simulation, reduced: ann's connection of broker run 7 ended with that
// run, she is live again on run 8, and the controller is killed. The broker then redelivers the
// old run's disconnected event (unacknowledged before the kill). Without the broker-run record a
// restarted engine knows no epoch, takes 7 as current and sends ann reconnecting: a false leave
// after the grace. With it, 7 is still retired and the event is stale.
TEST_CASE("host_restore_keeps_a_retired_broker_epoch_so_its_late_events_stay_stale") {
    rig r;
    const auto lifecycle = [&](wire::inbound_kind kind, std::uint64_t epoch, std::uint64_t seq) {
        r.send(kind, ann,
               wire::encode_connection_event(ann, epoch, seq, core::connection_end::lost, r.now));
    };
    r.send(wire::inbound_kind::broker_epoch, ann, wire::encode_broker_epoch(7, r.now));
    lifecycle(wire::inbound_kind::lifecycle_connected, 7, 1);
    r.connect(ann, "ann-s1");
    r.join(ann, "a");
    r.drain();
    r.advance(5s);
    // The broker restarts (run 8); ann's device reconnects on it with the same session.
    const auto run8 = r.now;
    r.send(wire::inbound_kind::broker_epoch, ann, wire::encode_broker_epoch(8, run8));
    lifecycle(wire::inbound_kind::lifecycle_connected, 8, 1);
    r.connect(ann, "ann-s1");
    r.drain();
    // The broker-run record leads the drain that changed it.
    REQUIRE_FALSE(r.last.empty());
    CHECK(r.last.front().message.topic == wire::controller_broker_state_topic);
    REQUIRE(r.broker.retained.contains(std::string(wire::controller_broker_state_topic)));
    core::broker_record kept;
    REQUIRE_FALSE(
        wire::decode(r.broker.retained[std::string(wire::controller_broker_state_topic)], kept));
    CHECK(kept.epoch == 8);
    CHECK(kept.retired == std::vector<std::uint64_t>{7});

    r.advance(1s);
    r.restart();
    // The redelivered end of ann's connection 1 of run 7, then the broker's retained epoch.
    lifecycle(wire::inbound_kind::lifecycle_disconnected, 7, 1);
    r.send(wire::inbound_kind::broker_epoch, ann, wire::encode_broker_epoch(8, run8));
    r.drain();
    REQUIRE(r.device("ann", "ann-phone") != nullptr);
    CHECK(r.device("ann", "ann-phone")->state == core::device_state::live);
    CHECK(r.device("ann", "ann-phone")->broker_epoch == 8);
    r.advance(5s);  // past the grace: ann is still there
    const auto snapshot = r.h->engine().snapshot("a");
    REQUIRE(snapshot);
    REQUIRE(snapshot->members.size() == 1);
    CHECK(snapshot->members[0].state == core::member_state::present);
}

// Plugin seed 63669 of the simulation, reduced to what the product relies on. ann's sessions s39
// and s40 (a takeover: connection 20 replaces 19) join party a, then she signs out; the kill -9
// cuts that drain right after her private record was cleared, so the restarted engine knows
// nothing of her: no device, no ended sessions, no forgotten connection. Mosquitto then resends
// the controller's unacknowledged QoS 1 messages, each once and in their original order (one
// entry per message in the session's inflight list), so whatever suffix was unacknowledged, it
// ends with her sign-out and she stays gone. (The simulation used to resend a copy again after
// newer messages, an old `connect s39` after `connect s40`, which revived her: no broker does.)
TEST_CASE("host_restore_then_any_in_order_unacked_suffix_keeps_a_signed_out_device_gone") {
    using kind = wire::inbound_kind;
    struct input {
        kind k;
        std::string payload;
        std::string party = {};
    };
    const auto opened = [](std::uint64_t seq) {
        return input{kind::lifecycle_connected, wire::encode_connection_event(ann, 7, seq)};
    };
    const auto closed = [](std::uint64_t seq, core::connection_end end) {
        return input{kind::lifecycle_disconnected, wire::encode_connection_event(ann, 7, seq, end)};
    };
    const std::vector<input> stream = {
        opened(19),
        {kind::connect, wire::encode_connect("s39", {"ann", "", ""})},
        {kind::join, wire::encode_session("s39"), "a"},
        opened(20),
        closed(19, core::connection_end::taken_over),
        {kind::connect, wire::encode_connect("s40", {"ann", "", ""})},
        {kind::join, wire::encode_session("s40"), "a"},
        {kind::disconnect, wire::encode_session("s40")},
        closed(20, core::connection_end::lost),
    };
    const std::size_t sign_out = 7;  // the index of the disconnect
    for (std::size_t first = 0; first <= stream.size(); ++first) {
        CAPTURE(first);
        rig r;
        const auto send = [&](const input& in) { r.send(in.k, ann, in.payload, in.party); };
        r.send(kind::broker_epoch, ann, wire::encode_broker_epoch(7, r.now));
        for (std::size_t i = 0; i < sign_out; ++i) send(stream[i]);
        r.drain();
        r.advance(100ms);
        for (std::size_t i = sign_out; i < stream.size(); ++i) send(stream[i]);
        r.drain(1);  // killed after the first publish: the clear of ann's private record
        REQUIRE_FALSE(r.broker.retained.contains(wire::controller_state_topic("ann")));
        REQUIRE(r.broker.snapshot("a"));  // the public snapshot still lists her

        r.restart();
        for (std::size_t i = first; i < stream.size(); ++i) send(stream[i]);
        r.send(kind::broker_epoch, ann, wire::encode_broker_epoch(7, r.now));
        r.drain();
        CHECK(r.device("ann", "ann-phone") == nullptr);
        CHECK(r.h->engine().member_count("a") == 0);
        CHECK_FALSE(r.broker.snapshot("a"));
        CHECK_FALSE(r.broker.retained.contains(wire::controller_state_topic("ann")));
    }
}
