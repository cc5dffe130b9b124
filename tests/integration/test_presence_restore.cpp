// kill -9 of the controller while a coalesced snapshot is held back, then restart: the private
// per-user records decide device state, not the lagging retained snapshot (issue 10). For a party
// below and one above --coalesce-above, in both cases: the device died just before the crash (it
// must expire after the grace period, not linger as a ghost), and the device died and came back
// just before the crash (it must stay, not be falsely expired). Also: what a newcomer reads with
// a plain subscriber (mosquitto_sub's view) carries no session ids, epochs or sequence numbers.

#include <doctest/doctest.h>

#include <thread>

#include "presence/wire/wire.hpp"
#include "stack.hpp"

using namespace presence;
using namespace presence::testing;
using namespace std::chrono_literals;

namespace {

constexpr auto interval = 3s;  // --snapshot-interval: long enough to kill within it

struct crash_world {
    broker b;
    controller_process controller;
    observer watch;
    std::vector<std::unique_ptr<app_device>> stayers;

    explicit crash_world(std::size_t stayer_count)
        : controller(options(b), b.dir()), watch(b.uri(), {"party/+/members", "party/+/events"}) {
        controller.start_ready();
        for (std::size_t i = 0; i < stayer_count; ++i) {
            const auto user = "stay" + std::to_string(i);
            stayers.push_back(
                std::make_unique<app_device>(b.uri(), stack::app(user, user + "-phone")));
            stayers.back()->connect();
            stayers.back()->join("p");
        }
    }

    static controller_options options(const broker& b) {
        controller_options o;
        o.broker_uri = b.uri();
        o.grace = "2s";
        o.extra_args = {"--coalesce-above", "3", "--snapshot-interval", "3s"};
        return o;
    }

    // The subject device: a hand-rolled client whose socket close makes the broker publish
    // its will at once.
    std::unique_ptr<raw_device> subject_connect() {
        auto d = std::make_unique<raw_device>(
            b.port(), raw_device_options{"subj", "subj-phone", {}, {}, 60s, {}, true});
        d->connect();
        d->announce();
        d->join("p");
        return d;
    }

    bool all_present(std::size_t members) {
        return watch.wait_snapshot(
            "p",
            [&](const core::party_snapshot* s) {
                if (s == nullptr || s->members.size() != members) return false;
                for (const auto& m : s->members) {
                    if (m.state != core::member_state::present) return false;
                }
                return true;
            },
            20s);
    }

    // Restarts after a kill -9 and waits past the grace period.
    void crash_and_restart() {
        controller.kill9();
        controller.start_ready();
        std::this_thread::sleep_for(2s + 2s);  // --grace plus a margin for the broker's delivery
    }

    // What a newcomer reads from the broker's retained store now.
    std::optional<core::party_snapshot> newcomer_view() {
        observer newcomer(b.uri(), {"party/p/members"});
        newcomer.sync();
        return newcomer.latest_snapshot("p");
    }
};

std::size_t left_events_of(const observer& watch, std::string_view user,
                           std::chrono::steady_clock::time_point since) {
    std::size_t n = 0;
    for (const auto& m : watch.messages_on(wire::events_topic("p"))) {
        if (m.at < since) continue;
        core::party_event e;
        if (!wire::decode(m.payload, e) && e.member.user_id == user &&
            e.kind == core::event_kind::left) {
            ++n;
        }
    }
    return n;
}

void died_before_the_crash(std::size_t stayers) {
    crash_world w(stayers);
    auto subject = w.subject_connect();
    REQUIRE(w.all_present(stayers + 1));
    std::this_thread::sleep_for(interval + 500ms);       // quiet: the next change is a leading edge
    w.stayers[0]->update_profile({"stay0 v2", "", ""});  // the leading edge goes out at once
    REQUIRE(w.watch.wait_snapshot("p", [](const core::party_snapshot* s) {
        const auto* m = find_member(s, "stay0");
        return m != nullptr && m->profile.display_name == "stay0 v2";
    }));
    subject->close();  // its will: held back when coalesced
    REQUIRE(w.watch.wait_event("p", [](const core::party_event& e) {
        return e.member.user_id == "subj" && e.kind == core::event_kind::reconnecting;
    }));
    if (stayers + 1 > 3) {
        const auto held = w.watch.latest_snapshot("p");
        REQUIRE(held.has_value());
        CHECK(is_present(&*held, "subj"));  // the retained snapshot lags: subj still present
    }
    w.crash_and_restart();
    const auto seen = w.newcomer_view();
    REQUIRE(seen.has_value());
    CHECK(find_member(&*seen, "subj") == nullptr);  // no ghost: expired after the grace
    CHECK(seen->members.size() == stayers);
    for (const auto& m : seen->members) CHECK(m.state == core::member_state::present);
}

void came_back_before_the_crash(std::size_t stayers) {
    crash_world w(stayers);
    auto subject = w.subject_connect();
    REQUIRE(w.all_present(stayers + 1));
    std::this_thread::sleep_for(interval + 500ms);  // quiet: the will is a leading edge
    subject->close();
    REQUIRE(w.watch.wait_snapshot("p", [](const core::party_snapshot* s) {
        const auto* m = find_member(s, "subj");
        return m != nullptr && m->state == core::member_state::reconnecting;
    }));
    subject = w.subject_connect();  // back within the interval: its snapshot is held back
    REQUIRE(w.watch.wait_event("p", [](const core::party_event& e) {
        return e.member.user_id == "subj" && e.kind == core::event_kind::back;
    }));
    if (stayers + 1 > 3) {
        const auto held = w.watch.latest_snapshot("p");
        REQUIRE(held.has_value());
        CHECK_FALSE(is_present(&*held, "subj"));  // the retained snapshot lags: reconnecting
    }
    const auto crashed_at = std::chrono::steady_clock::now();
    w.crash_and_restart();
    const auto seen = w.newcomer_view();
    REQUIRE(seen.has_value());
    CHECK(is_present(&*seen, "subj"));  // no false leave
    CHECK(seen->members.size() == stayers + 1);
    CHECK(left_events_of(w.watch, "subj", crashed_at) == 0);
    for (const auto& m : seen->members) CHECK(m.state == core::member_state::present);
}

}  // namespace

TEST_CASE("restore_kill9_small_party_device_died_before_the_crash_expires") {
    died_before_the_crash(1);
}

TEST_CASE("restore_kill9_coalesced_party_device_died_before_the_crash_expires") {
    died_before_the_crash(4);
}

TEST_CASE("restore_kill9_small_party_device_back_before_the_crash_stays") {
    came_back_before_the_crash(1);
}

TEST_CASE("restore_kill9_coalesced_party_device_back_before_the_crash_stays") {
    came_back_before_the_crash(4);
}

TEST_CASE("public_json_snapshot_carries_no_session_ids_epochs_or_sequence_numbers") {
    stack s;
    app_device alice(s.broker_.uri(), stack::app("alice", "alice-phone"));
    alice.connect();
    alice.join("p");
    REQUIRE(s.watch->wait_snapshot(
        "p", [](const core::party_snapshot* p) { return is_present(p, "alice"); }));
    // A newcomer, as `mosquitto_sub -t 'party/p/members/json' -t 'presence/user/alice/json'`.
    observer newcomer(s.broker_.uri(), {"party/p/members/json", "presence/user/alice/json"});
    newcomer.sync();
    std::vector<received> got;
    for (const auto& m : newcomer.messages()) {
        if (m.topic.find("/json") != std::string::npos) got.push_back(m);
    }
    REQUIRE(got.size() == 2);
    for (const auto& m : got) {
        CAPTURE(m.payload);
        CHECK(m.retained);
        CHECK(m.payload.find("alice-phone") != std::string::npos);
        CHECK(m.payload.find(alice.session()) == std::string::npos);
        for (const char* field :
             {"session_id", "ended_session_ids", "broker_epoch", "connection_seq"}) {
            CHECK(m.payload.find(field) == std::string::npos);
        }
    }
    CHECK(stop_controller(s) == 0);
}
