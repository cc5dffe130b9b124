// The publish path's flow control without a broker: the high- and low-water marks that stop and
// resume input, the retry backoff of refused publishes, which refusals are retried, and the flags.

#include <MQTTAsync.h>
#include <doctest/doctest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "backpressure.hpp"
#include "controller_args.hpp"
#include "presence/controller/config.hpp"

using namespace presence::controller;
using namespace std::chrono_literals;

namespace {

parse_result parse(std::initializer_list<std::string> args) {
    return presence::testing::parse_controller_args(args);
}

}  // namespace

TEST_CASE("input_pauses_at_the_publish_count_high_mark_and_resumes_only_at_half") {
    watermark gate({.publishes = 100, .bytes = 1'000'000});
    CHECK_FALSE(gate.update({99, 10}));
    CHECK(gate.update({100, 10}));
    CHECK(gate.pauses() == 1);
    // Draining below the high mark is not enough: the low mark is half of it.
    CHECK(gate.update({99, 10}));
    CHECK(gate.update({51, 10}));
    CHECK_FALSE(gate.update({50, 10}));
    CHECK_FALSE(gate.paused());
    CHECK(gate.pauses() == 1);
}

TEST_CASE("input_pauses_at_the_byte_high_mark_even_with_few_publishes") {
    watermark gate({.publishes = 100, .bytes = 1000});
    CHECK(gate.update({1, 1000}));
    // Both must be at or below their low marks before input resumes.
    CHECK(gate.update({0, 501}));
    CHECK(gate.update({60, 0}));
    CHECK_FALSE(gate.update({50, 500}));
    CHECK(gate.update({2, 5000}));
    CHECK(gate.pauses() == 2);
}

TEST_CASE("a_watermark_of_one_pauses_on_any_pending_publish") {
    watermark gate({.publishes = 1, .bytes = 1});
    CHECK(gate.low().publishes == 0);
    CHECK(gate.update({1, 0}));
    CHECK_FALSE(gate.update({0, 0}));
    // Zero limits are taken as one rather than pausing forever.
    watermark zero({.publishes = 0, .bytes = 0});
    CHECK(zero.high().publishes == 1);
    CHECK_FALSE(zero.update({0, 0}));
}

TEST_CASE("refused_publishes_back_off_doubling_to_the_cap_and_reset_once_accepted") {
    retry_backoff backoff(5ms, 40ms);
    const auto t0 = retry_backoff::clock::time_point{} + 1h;
    CHECK(backoff.due(t0));
    CHECK_FALSE(backoff.next_try());
    backoff.refused(t0);
    CHECK(backoff.next_try() == t0 + 5ms);
    CHECK_FALSE(backoff.due(t0 + 4ms));
    CHECK(backoff.due(t0 + 5ms));
    std::vector<std::chrono::milliseconds> waits;
    auto now = t0 + 5ms;
    for (int i = 0; i < 5; ++i) {
        backoff.refused(now);
        waits.push_back(
            std::chrono::duration_cast<std::chrono::milliseconds>(*backoff.next_try() - now));
        now = *backoff.next_try();
    }
    CHECK(waits == std::vector<std::chrono::milliseconds>{10ms, 20ms, 40ms, 40ms, 40ms});
    backoff.accepted();
    CHECK(backoff.due(now));
    backoff.refused(now);
    CHECK(backoff.next_try() == now + 5ms);
}

TEST_CASE("only_refusals_paho_can_never_get_past_are_permanent") {
    for (const int rc :
         {MQTTASYNC_FAILURE, MQTTASYNC_PERSISTENCE_ERROR, MQTTASYNC_DISCONNECTED,
          MQTTASYNC_MAX_MESSAGES_INFLIGHT, MQTTASYNC_NO_MORE_MSGIDS, MQTTASYNC_OPERATION_INCOMPLETE,
          MQTTASYNC_MAX_BUFFERED_MESSAGES, MQTTASYNC_COMMAND_IGNORED, -1000}) {
        CAPTURE(rc);
        CHECK(classify_refusal(rc) == refusal::transient);
    }
    for (const int rc :
         {MQTTASYNC_BAD_UTF8_STRING, MQTTASYNC_NULL_PARAMETER, MQTTASYNC_TOPICNAME_TRUNCATED,
          MQTTASYNC_BAD_QOS, MQTTASYNC_BAD_STRUCTURE}) {
        CAPTURE(rc);
        CHECK(classify_refusal(rc) == refusal::permanent);
    }
}

TEST_CASE("parse_args_reads_the_backpressure_limits_and_rejects_bad_ones") {
    const auto defaults = parse({});
    REQUIRE_FALSE(defaults.exit);
    CHECK(defaults.cfg.max_pending_publishes == 50'000);
    CHECK(defaults.cfg.max_pending_bytes == 64 * 1024 * 1024);
    const auto r = parse({"--max-pending-publishes", "200", "--max-pending-bytes", "65536"});
    REQUIRE_FALSE(r.exit);
    CHECK(r.cfg.max_pending_publishes == 200);
    CHECK(r.cfg.max_pending_bytes == 65536);
    for (const auto& [flag, value] :
         std::vector<std::pair<std::string, std::string>>{{"--max-pending-publishes", "0"},
                                                          {"--max-pending-publishes", "lots"},
                                                          {"--max-pending-bytes", "0"},
                                                          {"--max-pending-bytes", "64MiB"}}) {
        CAPTURE(flag);
        const auto bad = parse({flag, value});
        CHECK(bad.exit);
        CHECK(bad.exit_code == 2);
        CHECK(bad.message.find(flag) != std::string::npos);
    }
}
