// The controller's HTTP endpoints against a real broker and controller: /metrics serves valid
// Prometheus text that moves with the presence traffic, /healthz follows the broker connection.

#include <doctest/doctest.h>
#include <httplib.h>

#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "stack.hpp"

using namespace presence;
using namespace presence::testing;
using namespace std::chrono_literals;

namespace {

struct http_reply {
    int status = 0;
    std::string body;
    std::string content_type;
};

std::optional<http_reply> http_get(std::uint16_t port, const std::string& path) {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(2s);
    client.set_read_timeout(5s);
    const auto res = client.Get(path);
    if (!res) return std::nullopt;
    return http_reply{res->status, res->body, res->get_header_value("Content-Type")};
}

// The value of one series ("name" or "name{labels}") in an exposition; nullopt when absent.
std::optional<double> series_value(const std::string& text, const std::string& series) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
    }
    return std::nullopt;
}

// Every line is a comment or `series value`, and every series' family has a # TYPE line first.
void check_exposition(const std::string& text) {
    std::istringstream in(text);
    std::string line;
    std::vector<std::string> typed;
    while (std::getline(in, line)) {
        CAPTURE(line);
        REQUIRE_FALSE(line.empty());
        if (line.rfind("# TYPE ", 0) == 0) {
            typed.push_back(line.substr(7, line.find(' ', 7) - 7));
            continue;
        }
        if (line.rfind("# HELP ", 0) == 0) continue;
        const auto space = line.rfind(' ');
        REQUIRE(space != std::string::npos);
        const std::string value = line.substr(space + 1);
        CHECK((value == "+Inf" || std::stod(value) >= 0));
        const std::string name = line.substr(0, line.find_first_of("{ "));
        bool has_type = false;
        for (const auto& t : typed) has_type = has_type || name.rfind(t, 0) == 0;
        CHECK_MESSAGE(has_type, "sample before its # TYPE: ", name);
    }
}

// Polls until `pred` holds for the body of GET path; returns the last reply.
std::optional<http_reply> poll(std::uint16_t port, const std::string& path,
                               const std::function<bool(const http_reply&)>& pred,
                               std::chrono::milliseconds timeout = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::optional<http_reply> last;
    while (std::chrono::steady_clock::now() < deadline) {
        last = http_get(port, path);
        if (last && pred(*last)) return last;
        std::this_thread::sleep_for(100ms);
    }
    return last;
}

}  // namespace

TEST_CASE("metrics_serve_valid_prometheus_text_that_moves_after_a_join") {
    stack s;
    const auto port = s.controller_.http_port();
    REQUIRE(port != 0);
    const auto before = http_get(port, "/metrics");
    REQUIRE(before);
    CHECK(before->status == 200);
    CHECK(before->content_type.find("text/plain; version=0.0.4") == 0);
    check_exposition(before->body);
    CHECK(series_value(before->body, "presence_members") == 0.0);
    CHECK(series_value(before->body, R"(presence_inbound_total{kind="join",outcome="applied"})") ==
          0.0);
    CHECK(series_value(before->body, "presence_broker_connected") == 1.0);

    app_device alice(s.broker_.uri(), stack::app("alice", "alice-phone"));
    alice.connect();
    alice.join("p1");
    REQUIRE(s.watch->wait_snapshot(
        "p1", [](const core::party_snapshot* p) { return is_present(p, "alice"); }));

    const auto after = poll(port, "/metrics", [](const http_reply& r) {
        return series_value(r.body, "presence_members") == 1.0 &&
               series_value(r.body, R"(presence_inbound_total{kind="join",outcome="applied"})") ==
                   1.0;
    });
    REQUIRE(after);
    CHECK(after->status == 200);
    check_exposition(after->body);
    CHECK(series_value(after->body, "presence_parties") == 1.0);
    CHECK(series_value(after->body, "presence_live_devices") == 1.0);
    CHECK(series_value(after->body, R"(presence_events_total{kind="joined"})") == 1.0);
    CHECK(series_value(after->body, "presence_published_total") >
          series_value(before->body, "presence_published_total"));
    CHECK(series_value(after->body, "presence_processing_seconds_count") >= 1.0);
    CHECK(series_value(after->body, R"(presence_processing_seconds_bucket{le="+Inf"})") ==
          series_value(after->body, "presence_processing_seconds_count"));

    // Unknown paths are not served.
    const auto missing = http_get(port, "/nope");
    REQUIRE(missing);
    CHECK(missing->status == 404);
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("healthz_goes_503_while_the_broker_is_down_and_200_when_it_is_back") {
    stack s;
    const auto port = s.controller_.http_port();
    const auto healthy =
        poll(port, "/healthz", [](const http_reply& r) { return r.status == 200; });
    REQUIRE(healthy);
    CHECK(healthy->status == 200);
    CHECK(healthy->body == "ok\n");

    s.broker_.kill9();
    const auto down = poll(port, "/healthz", [](const http_reply& r) { return r.status == 503; });
    REQUIRE(down);
    CHECK(down->status == 503);
    CHECK(down->body == "broker connection down\n");
    const auto metrics = http_get(port, "/metrics");
    REQUIRE(metrics);
    CHECK(series_value(metrics->body, "presence_broker_connected") == 0.0);

    s.broker_.start();
    // Paho reconnects with a 1..10 s backoff.
    const auto back = poll(
        port, "/healthz", [](const http_reply& r) { return r.status == 200; }, 40s);
    REQUIRE(back);
    CHECK(back->status == 200);
    const auto after = http_get(port, "/metrics");
    REQUIRE(after);
    CHECK(series_value(after->body, "presence_broker_connected") == 1.0);
    CHECK(series_value(after->body, "presence_broker_connects_total") >= 2.0);
    CHECK(series_value(after->body, "presence_broker_connection_lost_total") >= 1.0);
    CHECK(stop_controller(s) == 0);
}

TEST_CASE("http_listen_off_starts_no_http_server_and_presence_still_works") {
    broker b;
    controller_options c;
    c.broker_uri = b.uri();
    c.http_listen = "off";
    controller_process controller(c, b.dir());
    controller.start_ready();
    CHECK(controller.http_port() == 0);
    observer watch(b.uri(), {"party/+/members"});
    app_device alice(b.uri(), stack::app("alice", "alice-phone"));
    alice.connect();
    alice.join("p1");
    CHECK(watch.wait_snapshot(
        "p1", [](const core::party_snapshot* p) { return is_present(p, "alice"); }));
    CHECK(controller.stop() == 0);
    const auto log = file_tail(controller.log(), 1000);
    CHECK(log.find("presence-controller starting") != std::string::npos);
    CHECK(log.find("http: serving") == std::string::npos);
}
