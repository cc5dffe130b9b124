// The controller's output options, seen from a real client: --json-twins off publishes only the
// protobuf messages (and still clears an emptied party's retained twin), --output-qos 0 still
// delivers every snapshot, event and user record, and the defaults publish both twins (the
// control case, so the first check can fail).

#include <doctest/doctest.h>

#include <algorithm>
#include <iterator>

#include "stack.hpp"

using namespace presence;
using namespace presence::testing;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> every_output{
    "party/+/members",    "party/+/members/json",    "party/+/events",
    "party/+/events/json", "presence/user/+",        "presence/user/+/json"};

std::size_t count_on(const std::vector<received>& messages, std::string_view suffix) {
    return static_cast<std::size_t>(std::count_if(
        messages.begin(), messages.end(),
        [&](const received& m) { return m.topic.ends_with(suffix); }));
}

// ann joins and leaves "p1"; returns everything one subscriber of every output received.
std::vector<received> join_and_leave(const std::vector<std::string>& controller_args) {
    broker b;
    controller_options o;
    o.broker_uri = b.uri();
    o.extra_args = controller_args;
    controller_process controller(o, b.dir());
    controller.start_ready();
    observer watch(b.uri(), every_output);

    app_device ann(b.uri(), stack::app("ann", "ann-phone"));
    ann.connect();
    ann.join("p1");
    REQUIRE(watch.wait_snapshot("p1", [](const core::party_snapshot* p) {
        return is_present(p, "ann");
    }));
    ann.leave("p1");
    REQUIRE(watch.wait_event("p1", [](const core::party_event& e) {
        return e.member.user_id == "ann" && e.kind == core::event_kind::left;
    }));
    REQUIRE(watch.wait_snapshot("p1", [](const core::party_snapshot* p) { return p == nullptr; }));
    watch.sync();
    CHECK(controller.stop() == 0);
    return watch.messages();
}

}  // namespace

TEST_CASE("json_twins_off_and_output_qos_0_publish_every_protobuf_output_and_no_json") {
    const auto seen = join_and_leave({"--json-twins", "off", "--output-qos", "0"});
    // The one JSON message is the emptied party's clear of its retained twin (docs/operations.md).
    std::vector<received> json;
    std::copy_if(seen.begin(), seen.end(), std::back_inserter(json),
                 [](const received& m) { return m.topic.ends_with("/json"); });
    REQUIRE(json.size() == 1);
    CHECK(json[0].topic == "party/p1/members/json");
    CHECK(json[0].payload.empty());
    CHECK(count_on(seen, "/events") >= 2);   // joined and left
    CHECK(count_on(seen, "/members") >= 2);  // ann listed, then the clear
    CHECK(std::any_of(seen.begin(), seen.end(),
                      [](const received& m) { return m.topic == "presence/user/ann"; }));
}

TEST_CASE("by_default_every_output_has_its_json_twin") {
    const auto seen = join_and_leave({});
    CHECK(count_on(seen, "/members/json") == count_on(seen, "/members"));
    CHECK(count_on(seen, "/events/json") == count_on(seen, "/events"));
    CHECK(std::any_of(seen.begin(), seen.end(),
                      [](const received& m) { return m.topic == "presence/user/ann/json"; }));
}
