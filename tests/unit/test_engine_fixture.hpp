#pragma once
// Scenario fixture for the engine's unit tests: one engine with a 2-minute grace period, a fake
// clock that only moves when a test advances it, and helpers that pick effects apart.

#include <chrono>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "presence/core/engine.hpp"
#include "presence/core/types.hpp"

namespace presence::core::testing {

using namespace std::chrono_literals;

// The kinds of an effect list, so a test can assert the exact order of what gets published.
enum class fx { snapshot, clear, event, user };

inline std::vector<fx> kinds(const std::vector<effect>& effects) {
    std::vector<fx> out;
    for (const auto& e : effects) {
        if (std::holds_alternative<publish_snapshot>(e)) out.push_back(fx::snapshot);
        if (std::holds_alternative<clear_snapshot>(e)) out.push_back(fx::clear);
        if (std::holds_alternative<publish_event>(e)) out.push_back(fx::event);
        if (std::holds_alternative<publish_user>(e)) out.push_back(fx::user);
    }
    return out;
}

inline std::vector<party_event> events_of(const std::vector<effect>& effects) {
    std::vector<party_event> out;
    for (const auto& e : effects) {
        if (const auto* p = std::get_if<publish_event>(&e)) out.push_back(p->event);
    }
    return out;
}

inline std::vector<party_snapshot> snapshots_of(const std::vector<effect>& effects) {
    std::vector<party_snapshot> out;
    for (const auto& e : effects) {
        if (const auto* p = std::get_if<publish_snapshot>(&e)) out.push_back(p->snapshot);
    }
    return out;
}

inline std::vector<std::string> cleared_of(const std::vector<effect>& effects) {
    std::vector<std::string> out;
    for (const auto& e : effects) {
        if (const auto* p = std::get_if<clear_snapshot>(&e)) out.push_back(p->party_id);
    }
    return out;
}

inline std::vector<user_presence> users_of(const std::vector<effect>& effects) {
    std::vector<user_presence> out;
    for (const auto& e : effects) {
        if (const auto* p = std::get_if<publish_user>(&e)) out.push_back(p->user);
    }
    return out;
}

inline profile named(std::string name) { return profile{std::move(name), "https://a/x.png", ""}; }

struct engine_fixture {
    static constexpr duration grace = 2min;
    engine eng{engine_config{grace, 4}};
    // A realistic wall-clock instant, so time-seeded revisions look like production ones.
    time_point now = time_point{1'700'000'000'000ms};

    void advance(duration d) { now += d; }

    outcome connect(const std::string& user, const std::string& device, const std::string& session,
                    const profile& prof = {}) {
        return eng.on_connect({user, device}, session, prof, now);
    }
    outcome will(const std::string& user, const std::string& device, const std::string& session) {
        return eng.on_will({user, device}, session, now);
    }
    outcome sign_out(const std::string& user, const std::string& device,
                     const std::string& session = "") {
        return eng.on_disconnect({user, device}, session, now);
    }
    outcome join(const std::string& party, const std::string& user, const std::string& device,
                 const std::string& session = "") {
        return eng.on_join(party, {user, device}, session, now);
    }
    outcome leave(const std::string& party, const std::string& user, const std::string& device,
                  const std::string& session = "") {
        return eng.on_leave(party, {user, device}, session, now);
    }
    outcome set_profile(const std::string& user, const profile& prof) {
        return eng.on_profile({user, "any"}, prof, now);
    }
    outcome opened(const std::string& user, const std::string& device, std::uint64_t epoch,
                   std::uint64_t seq) {
        return eng.on_connection_opened({user, device}, epoch, seq, now);
    }
    outcome closed(const std::string& user, const std::string& device, std::uint64_t epoch,
                   std::uint64_t seq, connection_end end = connection_end::lost) {
        return eng.on_connection_closed({user, device}, epoch, seq, end, now);
    }
    outcome broker_epoch(std::uint64_t epoch) { return eng.on_broker_epoch(epoch, now); }
    void tick() { eng.tick(now); }
    std::vector<effect> take() { return eng.take_effects(); }

    // A user connected with one device and joined to one party, effects drained.
    void present(const std::string& party, const std::string& user, const std::string& device,
                 const std::string& session) {
        connect(user, device, session, named(user));
        join(party, user, device, session);
        take();
    }

    const member_view* member(const std::string& party, const std::string& user) {
        snap_ = eng.snapshot(party);
        if (!snap_) return nullptr;
        for (const auto& m : snap_->members) {
            if (m.user_id == user) return &m;
        }
        return nullptr;
    }

  private:
    std::optional<party_snapshot> snap_;
};

}  // namespace presence::core::testing
