// Backpressure without loss against a real broker: while mosquitto is frozen (SIGSTOP) the
// controller's publishes go unacknowledged, so it stops taking input and says so on /metrics;
// a burst of joins sent meanwhile is served once the broker thaws (SIGCONT), and every party's
// retained snapshot ends up right.

#include <doctest/doctest.h>
#include <httplib.h>
#include <signal.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "stack.hpp"

using namespace presence;
using namespace presence::testing;
using namespace std::chrono_literals;

namespace {

constexpr int party_count = 4;
constexpr int devices_per_party = 10;

std::string party_of(int device) { return "p" + std::to_string(device % party_count); }
std::string user_of(int device) { return "u" + std::to_string(device); }

// The value of one unlabelled series in GET /metrics; nullopt when absent or unreachable.
std::optional<double> metric(std::uint16_t port, const std::string& series) {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(2s);
    client.set_read_timeout(5s);
    const auto res = client.Get("/metrics");
    if (!res || res->status != 200) return std::nullopt;
    std::istringstream in(res->body);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
    }
    return std::nullopt;
}

// Polls /metrics until `series` satisfies `pred`; false after the timeout.
template <typename Pred>
bool wait_metric(std::uint16_t port, const std::string& series, Pred pred,
                 std::chrono::milliseconds timeout = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (const auto v = metric(port, series); v && pred(*v)) return true;
        std::this_thread::sleep_for(50ms);
    }
    return false;
}

std::vector<std::string> present_members(const core::party_snapshot* p) {
    std::vector<std::string> ids;
    if (p == nullptr) return ids;
    for (const auto& m : p->members) {
        if (m.state == core::member_state::present) ids.push_back(m.user_id);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
}

std::vector<std::string> expected_members(int party) {
    std::vector<std::string> ids;
    for (int d = 0; d < party_count * devices_per_party; ++d) {
        if (d % party_count == party) ids.push_back(user_of(d));
    }
    std::sort(ids.begin(), ids.end());
    return ids;
}

// Stops or continues the broker process; the test fails loudly if the signal cannot be sent.
void signal_broker(const broker& b, int sig) { REQUIRE(::kill(b.pid(), sig) == 0); }

}  // namespace

TEST_CASE("a_burst_through_a_frozen_broker_pauses_input_and_loses_no_retained_state") {
    stack_options options;
    options.grace = "60s";  // nobody may time out while the broker is frozen
    // One unacknowledged publish is enough to stop the input, so the pause is certain to happen
    // while the broker is frozen (the stats publish every second goes unacknowledged).
    options.controller_args = {"--max-pending-publishes", "1"};
    stack s(options);
    const auto port = s.controller_.http_port();
    REQUIRE(port != 0);
    // At startup the restore's own publishes (the broker-run record, the status) can exceed the
    // limit of 1 for a moment: the pause must be over before the burst.
    CHECK(wait_metric(port, "presence_backpressure_paused", [](double v) { return v == 0; }));

    std::vector<std::unique_ptr<raw_device>> devices;
    for (int d = 0; d < party_count * devices_per_party; ++d) {
        raw_device_options o;
        o.user = user_of(d);
        o.device = user_of(d) + "-phone";
        o.keepalive = 60s;  // it never pings; the broker must not drop it during the test
        devices.push_back(std::make_unique<raw_device>(s.broker_.port(), o));
        devices.back()->connect();
        devices.back()->announce();
    }

    signal_broker(s.broker_, SIGSTOP);
    // The joins wait in the broker's socket buffers; the controller's next stats publish waits
    // for a PUBACK that cannot come, so the controller stops taking input.
    for (std::size_t d = 0; d < devices.size(); ++d)
        devices[d]->join(party_of(static_cast<int>(d)));
    const bool paused =
        wait_metric(port, "presence_backpressure_paused", [](double v) { return v == 1; });
    const auto pending = metric(port, "presence_publish_pending");
    const auto pending_bytes = metric(port, "presence_publish_pending_bytes");
    signal_broker(s.broker_, SIGCONT);
    REQUIRE(paused);
    CHECK(pending >= 1.0);
    CHECK(pending_bytes > 0.0);
    CHECK(metric(port, "presence_backpressure_pauses_total") >= 1.0);

    // Every join was served once the broker thawed, in every party.
    for (int p = 0; p < party_count; ++p) {
        CAPTURE(p);
        CHECK(s.watch->wait_snapshot("p" + std::to_string(p), [&](const core::party_snapshot* x) {
            return present_members(x) == expected_members(p);
        }));
    }
    // What a newcomer reads from the broker's retained store is the final state too.
    observer newcomer(s.broker_.uri(), {"party/+/members"});
    newcomer.sync();
    for (int p = 0; p < party_count; ++p) {
        CAPTURE(p);
        const auto snap = newcomer.latest_snapshot("p" + std::to_string(p));
        REQUIRE(snap);
        CHECK(present_members(&*snap) == expected_members(p));
        CHECK(snap->members.size() == expected_members(p).size());
    }
    CHECK(wait_metric(port, "presence_publish_pending", [](double v) { return v == 0; }));
    CHECK(metric(port, "presence_backpressure_paused") == 0.0);
    CHECK(metric(port, "presence_publish_errors_total") == 0.0);
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("publishes_pending_when_the_frozen_broker_crashes_complete_after_its_restart") {
    stack_options options;
    options.grace = "60s";
    options.controller_args = {"--max-pending-publishes", "1"};
    stack s(options);
    const auto port = s.controller_.http_port();
    REQUIRE(port != 0);
    app_device alice(s.broker_.uri(), stack::app("alice", "alice-phone"));
    alice.connect();
    alice.join("p1");
    REQUIRE(s.watch->wait_snapshot(
        "p1", [](const core::party_snapshot* p) { return present_members(p).size() == 1; }));

    signal_broker(s.broker_, SIGSTOP);
    REQUIRE(wait_metric(port, "presence_backpressure_paused", [](double v) { return v == 1; }));
    // A crash of the frozen broker: what Paho held unacknowledged must be resent or failed after
    // the reconnect, never leak, or the controller would stay paused for good.
    s.broker_.kill9();
    s.broker_.start();
    CHECK(wait_metric(
        port, "presence_backpressure_paused", [](double v) { return v == 0; }, 30s));
    CHECK(wait_metric(
        port, "presence_publish_pending", [](double v) { return v == 0; }, 30s));

    // The controller takes input again once it is back on the restarted broker (a join sent
    // before its session is resubscribed is not queued for it: the crash lost that session).
    CHECK(wait_metric(
        port, "presence_broker_connects_total", [](double v) { return v >= 2; }, 30s));
    CHECK(wait_metric(
        port, "presence_broker_connected", [](double v) { return v == 1; }, 30s));
    app_device bob(s.broker_.uri(), stack::app("bob", "bob-phone"));
    bob.connect();
    bob.join("p1");
    observer newcomer(s.broker_.uri(), {"party/+/members"});
    CHECK(newcomer.wait_snapshot("p1", [](const core::party_snapshot* p) {
        const auto ids = present_members(p);
        return std::find(ids.begin(), ids.end(), "bob") != ids.end();
    }));
    CHECK(stop_controller(s) == 0);
}
