// A controller whose MQTT session cannot stay connected exits with status 75, so a supervisor
// (docker's restart policy, systemd) starts a fresh process that restores from the broker. The
// loop is forced here by another client taking the controller's client id over again and again
// (the development broker has no plugin to reserve it), which ends each controller connection
// about a second after it began: the same pattern the compose test met after a broker restart.

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "stack.hpp"

using namespace presence::testing;
using namespace std::chrono_literals;

namespace {

// A client that takes the controller's client id (and so its connection) over.
raw_device_options thief_options() {
    raw_device_options o;
    o.user = "mallory";
    o.device = "presence-controller";
    return o;
}

}  // namespace

TEST_CASE("controller_exits_75_when_its_session_is_wedged_in_a_reconnect_loop") {
    stack s;
    const auto deadline = std::chrono::steady_clock::now() + 40s;
    int takeovers = 0;
    while (s.controller_.running() && std::chrono::steady_clock::now() < deadline) {
        raw_device thief(s.broker_.port(), thief_options());
        thief.connect();
        ++takeovers;
        // Long enough for the controller's automatic reconnect (1 s) to take the id back.
        std::this_thread::sleep_for(1500ms);
    }
    INFO("takeovers: " << takeovers << "\n" << s.controller_.log_tail());
    REQUIRE_FALSE(s.controller_.running());
    CHECK(s.controller_.stop() == 75);
    CHECK(takeovers >= 3);
    CHECK(s.controller_.log_tail().find("is wedged") != std::string::npos);
}

TEST_CASE("controller_survives_one_takeover_of_its_client_id") {
    // The control case: a single short connection is not a loop, the controller stays up.
    stack s;
    {
        raw_device thief(s.broker_.port(), thief_options());
        thief.connect();
        std::this_thread::sleep_for(1500ms);
    }
    std::this_thread::sleep_for(5s);
    CHECK(s.controller_.running());
    CHECK(stop_controller(s) == 0);
}
