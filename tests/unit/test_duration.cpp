#include <doctest/doctest.h>

#include "presence/common/duration.hpp"

using presence::common::parse_duration;
using namespace std::chrono_literals;

TEST_CASE("parse_duration_accepts_each_unit_and_combinations") {
    CHECK(parse_duration("120s") == 120s);
    CHECK(parse_duration("2m") == 2min);
    CHECK(parse_duration("1500ms") == 1500ms);
    CHECK(parse_duration("1h") == 1h);
    CHECK(parse_duration("1m30s") == 90s);
    CHECK(parse_duration("1h2m3s4ms") == 1h + 2min + 3s + 4ms);
    CHECK(parse_duration("0s") == 0ms);
    CHECK(parse_duration("007s") == 7s);
}

TEST_CASE("parse_duration_rejects_bare_numbers_negatives_and_empty_text") {
    CHECK_FALSE(parse_duration(""));
    CHECK_FALSE(parse_duration("120"));
    CHECK_FALSE(parse_duration("0"));
    CHECK_FALSE(parse_duration("-5s"));
    CHECK_FALSE(parse_duration("-1m30s"));
    CHECK_FALSE(parse_duration("+5s"));
}

TEST_CASE("parse_duration_rejects_unknown_units_and_malformed_text") {
    CHECK_FALSE(parse_duration("5d"));
    CHECK_FALSE(parse_duration("5 s"));
    CHECK_FALSE(parse_duration(" 5s"));
    CHECK_FALSE(parse_duration("5s "));
    CHECK_FALSE(parse_duration("5S"));
    CHECK_FALSE(parse_duration("1.5s"));
    CHECK_FALSE(parse_duration("s"));
    CHECK_FALSE(parse_duration("5sec"));
    CHECK_FALSE(parse_duration("1m30"));
}

TEST_CASE("parse_duration_rejects_units_out_of_order_or_repeated") {
    CHECK_FALSE(parse_duration("30s1m"));
    CHECK_FALSE(parse_duration("1s1s"));
    CHECK_FALSE(parse_duration("5ms1s"));
}

TEST_CASE("parse_duration_rejects_overflow") {
    CHECK_FALSE(parse_duration("99999999999999999999999s"));
    CHECK_FALSE(parse_duration("9223372036854775807ms"));
    CHECK_FALSE(parse_duration("9999999999h"));
    CHECK(parse_duration("876000h") == 876000h);  // a century still fits
}
