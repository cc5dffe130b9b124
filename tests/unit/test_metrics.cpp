// The controller's metrics without a broker: the Prometheus exposition parsed line by line by a
// strict reader of format 0.0.4, the latency histogram, the health verdict, and --http-listen.

#include <doctest/doctest.h>

#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "http.hpp"
#include "metric_table.hpp"
#include "metrics.hpp"
#include "presence/controller/config.hpp"
#include "stats.hpp"

using namespace presence;
using namespace presence::controller;
using namespace std::chrono_literals;

namespace {

struct sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

struct family {
    std::string type;
    std::string help;
    std::vector<sample> samples;
};

bool valid_metric_name(std::string_view name) {
    if (name.empty()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

double parse_value(std::string_view text) {
    if (text == "+Inf") return INFINITY;
    if (text == "-Inf") return -INFINITY;
    double v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    REQUIRE_MESSAGE((ec == std::errc() && end == text.data() + text.size()),
                    "bad sample value: ", std::string(text));
    return v;
}

// Parses `{a="x",b="y\"z"}` at text[pos] (just after the name); unescapes values.
std::map<std::string, std::string> parse_labels(std::string_view line, std::size_t& pos) {
    std::map<std::string, std::string> labels;
    if (pos >= line.size() || line[pos] != '{') return labels;
    ++pos;
    while (pos < line.size() && line[pos] != '}') {
        const auto eq = line.find('=', pos);
        REQUIRE(eq != std::string_view::npos);
        const std::string key(line.substr(pos, eq - pos));
        REQUIRE_MESSAGE(valid_metric_name(key), "bad label name: ", key);
        REQUIRE(line.at(eq + 1) == '"');
        std::string value;
        pos = eq + 2;
        while (true) {
            REQUIRE(pos < line.size());
            const char c = line[pos++];
            if (c == '"') break;
            if (c == '\\') {
                REQUIRE(pos < line.size());
                const char e = line[pos++];
                REQUIRE_MESSAGE((e == '\\' || e == '"' || e == 'n'), "bad escape in ", line);
                value += e == 'n' ? '\n' : e;
            } else {
                REQUIRE_MESSAGE(c != '\n', "raw newline in label value");
                value += c;
            }
        }
        REQUIRE_MESSAGE(labels.emplace(key, value).second, "duplicate label ", key);
        if (line.at(pos) == ',') ++pos;
    }
    REQUIRE(pos < line.size());
    ++pos;  // '}'
    return labels;
}

// A strict reader of the text format: every line is a HELP, a TYPE or a sample; HELP and TYPE
// come once per family and before its samples; histogram samples use _bucket/_sum/_count.
std::map<std::string, family> parse_exposition(const std::string& text) {
    REQUIRE_FALSE(text.empty());
    REQUIRE(text.back() == '\n');
    std::map<std::string, family> families;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        CAPTURE(line);
        REQUIRE_FALSE(line.empty());
        if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
            const std::string rest = line.substr(7);
            const auto space = rest.find(' ');
            REQUIRE(space != std::string::npos);
            const std::string name = rest.substr(0, space);
            REQUIRE(valid_metric_name(name));
            auto& f = families[name];
            REQUIRE(f.samples.empty());  // metadata before samples
            if (line[2] == 'H') {
                REQUIRE(f.help.empty());
                f.help = rest.substr(space + 1);
                REQUIRE_FALSE(f.help.empty());
            } else {
                REQUIRE(f.type.empty());
                f.type = rest.substr(space + 1);
                REQUIRE(std::set<std::string>{"counter", "gauge", "histogram"}.count(f.type) == 1);
            }
            continue;
        }
        REQUIRE(line[0] != '#');
        std::size_t pos = 0;
        while (pos < line.size() && line[pos] != '{' && line[pos] != ' ') ++pos;
        sample s;
        s.name = line.substr(0, pos);
        REQUIRE(valid_metric_name(s.name));
        s.labels = parse_labels(line, pos);
        REQUIRE(line.at(pos) == ' ');
        s.value = parse_value(std::string_view(line).substr(pos + 1));
        // Find the family: the name itself, or a histogram's name minus its suffix.
        std::string family_name = s.name;
        if (!families.count(family_name)) {
            for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
                if (s.name.size() > suffix.size() &&
                    s.name.compare(s.name.size() - suffix.size(), suffix.size(), suffix) == 0) {
                    family_name = s.name.substr(0, s.name.size() - suffix.size());
                }
            }
        }
        REQUIRE_MESSAGE(families.count(family_name) == 1, "sample before its TYPE: ", s.name);
        auto& f = families[family_name];
        REQUIRE_FALSE(f.type.empty());
        if (f.type != "histogram") REQUIRE(s.name == family_name);
        if (f.type == "counter") REQUIRE(s.value >= 0);
        f.samples.push_back(std::move(s));
    }
    return families;
}

// A histogram family's buckets ascend in le, are cumulative, end in +Inf, and +Inf == _count.
void check_histogram(const family& f) {
    double last_le = -INFINITY;
    double last_count = 0;
    std::optional<double> inf_count;
    std::optional<double> count;
    std::optional<double> sum;
    for (const auto& s : f.samples) {
        if (s.name.ends_with("_bucket")) {
            REQUIRE(s.labels.count("le") == 1);
            const double le = parse_value(s.labels.at("le"));
            CHECK(le > last_le);
            CHECK(s.value >= last_count);
            last_le = le;
            last_count = s.value;
            if (std::isinf(le)) inf_count = s.value;
        } else if (s.name.ends_with("_count")) {
            count = s.value;
        } else if (s.name.ends_with("_sum")) {
            sum = s.value;
        }
    }
    REQUIRE(inf_count);
    REQUIRE(count);
    REQUIRE(sum);
    CHECK(*inf_count == *count);
    CHECK(*sum >= 0);
}

double value_of(const std::map<std::string, family>& fams, const std::string& name,
                const std::map<std::string, std::string>& labels = {}) {
    std::string family_name = name;
    for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
        if (!fams.count(family_name) && name.ends_with(suffix)) {
            family_name = name.substr(0, name.size() - suffix.size());
        }
    }
    const auto& f = fams.at(family_name);
    for (const auto& s : f.samples) {
        if (s.name == name && s.labels == labels) return s.value;
    }
    FAIL("no sample ", name);
    return -1;
}

metrics_snapshot busy_snapshot() {
    metrics_snapshot m;
    m.c.count(wire::inbound_kind::join, core::outcome::applied);
    m.c.count(wire::inbound_kind::join, core::outcome::applied);
    m.c.count(wire::inbound_kind::will, core::outcome::stale);
    m.c.count(wire::error::bad_payload);
    core::party_event left;
    left.kind = core::event_kind::left;
    left.reason = core::leave_reason::timeout;
    m.c.count(left);
    core::party_event joined;
    m.c.count(joined);
    host::query_answer answered;
    answered.kind = wire::query_kind::where_now;
    m.c.count(answered);
    host::query_answer refused;
    refused.drop = query_drop::response_topic_refused;
    m.c.count(refused);
    for (const auto us : {30, 80, 80, 700, 3000, 2'000'000}) {
        m.c.processing.observe(std::chrono::microseconds(us));
    }
    m.c.published = 12;
    m.c.broker_epoch_changes = 2;
    m.c.reconciled_devices = 9;
    m.engine.parties = 2;
    m.engine.members = 5;
    m.engine.reconnecting_members = 1;
    m.engine.live_devices = 4;
    m.h.restore_done = true;
    m.h.broker_connected = true;
    m.h.broker_connects = 3;
    m.h.publish_queue_depth = 7;
    m.out.pending_publishes = 1200;
    m.out.pending_bytes = 345678;
    m.out.refusals = 4;
    m.out.backpressure_pauses = 2;
    m.out.backpressure_paused = true;
    return m;
}

}  // namespace

TEST_CASE("the Prometheus exposition is valid text format 0.0.4 with the right values") {
    const auto text = to_prometheus(busy_snapshot(), "1.2.3");
    const auto fams = parse_exposition(text);
    for (const auto& [name, f] : fams) {
        CAPTURE(name);
        CHECK(name.rfind("presence_", 0) == 0);
        CHECK_FALSE(f.type.empty());
        CHECK_FALSE(f.samples.empty());
        if (f.type == "counter") CHECK(name.ends_with("_total"));
        if (f.type == "histogram") check_histogram(f);
    }
    CHECK(value_of(fams, "presence_inbound_total", {{"kind", "join"}, {"outcome", "applied"}}) ==
          2);
    CHECK(value_of(fams, "presence_inbound_total", {{"kind", "will"}, {"outcome", "stale"}}) == 1);
    CHECK(value_of(fams, "presence_rejected_total", {{"cause", "bad_payload"}}) == 1);
    CHECK(value_of(fams, "presence_events_total", {{"kind", "left"}}) == 1);
    CHECK(value_of(fams, "presence_events_total", {{"kind", "joined"}}) == 1);
    CHECK(value_of(fams, "presence_leaves_total", {{"reason", "timeout"}}) == 1);
    CHECK(value_of(fams, "presence_queries_total", {{"kind", "where_now"}, {"status", "ok"}}) == 1);
    CHECK(value_of(fams, "presence_queries_dropped_total", {{"cause", "response_topic_refused"}}) ==
          1);
    CHECK(value_of(fams, "presence_members") == 5);
    CHECK(value_of(fams, "presence_reconnecting_members") == 1);
    CHECK(value_of(fams, "presence_live_devices") == 4);
    CHECK(value_of(fams, "presence_published_total") == 12);
    CHECK(value_of(fams, "presence_broker_epoch_changes_total") == 2);
    CHECK(value_of(fams, "presence_reconciled_devices_total") == 9);
    CHECK(value_of(fams, "presence_publish_queue_depth") == 7);
    CHECK(value_of(fams, "presence_publish_pending") == 1200);
    CHECK(value_of(fams, "presence_publish_pending_bytes") == 345678);
    CHECK(value_of(fams, "presence_publish_refusals_total") == 4);
    CHECK(value_of(fams, "presence_backpressure_pauses_total") == 2);
    CHECK(value_of(fams, "presence_backpressure_paused") == 1);
    CHECK(value_of(fams, "presence_broker_connected") == 1);
    CHECK(value_of(fams, "presence_broker_connects_total") == 3);
    CHECK(value_of(fams, "presence_controller_info", {{"version", "1.2.3"}}) == 1);
    CHECK(value_of(fams, "presence_processing_seconds_count") == 6);
    CHECK(value_of(fams, "presence_processing_seconds_bucket", {{"le", "0.0001"}}) == 3);
    CHECK(value_of(fams, "presence_processing_seconds_bucket", {{"le", "1"}}) == 5);
    CHECK(value_of(fams, "presence_processing_seconds_bucket", {{"le", "+Inf"}}) == 6);
    CHECK(std::abs(value_of(fams, "presence_processing_seconds_sum") - 2.00389) < 1e-9);

    // An empty snapshot renders validly too (every family present, zeros).
    const auto empty = parse_exposition(to_prometheus(metrics_snapshot{}, "x"));
    CHECK(empty.size() == fams.size());
    check_histogram(empty.at("presence_processing_seconds"));
}

// A new counters field must get a row in metric_table(), or the stats topic and /metrics drift
// apart again; this size check makes adding a field without looking at the table fail here.
static_assert(sizeof(counters) == 920,
              "counters changed: give the new field a row in metric_table() (metric_table.hpp) "
              "and then update this size");

// A snapshot in which every counter, gauge and health fact is nonzero and most differ.
metrics_snapshot every_value_set() {
    metrics_snapshot m = busy_snapshot();
    std::uint64_t next = 100;
    for (auto& per_kind : m.c.outcomes) {
        for (auto& v : per_kind) v = ++next;
    }
    for (auto& v : m.c.rejected) v = ++next;
    for (auto& per_kind : m.c.queries) {
        for (auto& v : per_kind) v = ++next;
    }
    for (auto& v : m.c.queries_dropped) v = ++next;
    for (auto& v : m.c.events) v = ++next;
    for (auto& v : m.c.leaves) v = ++next;
    for (auto* v : {&m.c.published, &m.c.publish_errors, &m.c.grace_expiries, &m.c.restored_users,
                    &m.c.restored_parties, &m.c.restore_rejected, &m.c.connection_lost,
                    &m.c.broker_epoch_changes, &m.c.reconciled_devices, &m.c.coalesced_snapshots,
                    &m.c.restored_records, &m.c.restore_republished, &m.c.epoch_republished}) {
        *v = ++next;
    }
    for (auto* v : {&m.engine.parties, &m.engine.members, &m.engine.reconnecting_members,
                    &m.engine.devices, &m.engine.live_devices, &m.engine.users}) {
        *v = ++next;
    }
    m.h.restore_complete = true;
    m.h.broker_connects = ++next;
    m.h.publish_queue_depth = ++next;
    return m;
}

// The value of "key" in the stats topic's flat JSON object, if it is there exactly once.
std::optional<std::uint64_t> json_value(const std::string& json, const std::string& key) {
    const std::string needle = "\"" + key + "\":";
    const auto at = json.find(needle);
    if (at == std::string::npos || json.find(needle, at + 1) != std::string::npos) return {};
    std::uint64_t v = 0;
    const char* start = json.data() + at + needle.size();
    const auto [end, ec] = std::from_chars(start, json.data() + json.size(), v);
    if (ec != std::errc() || (*end != ',' && *end != '}')) return {};
    return v;
}

TEST_CASE("every metric of the table appears in the stats topic and in /metrics, equal") {
    const auto m = every_value_set();
    const auto json = to_json(m);
    const auto fams = parse_exposition(to_prometheus(m, "1.2.3"));
    std::set<std::string> names;
    std::vector<metric_sample> samples;
    for (const auto& row : metric_table()) {
        CAPTURE(row.name);
        CHECK(names.insert(std::string(row.name)).second);  // one row per family
        if (row.type == metric_type::histogram) {
            const auto& h = row.histogram(m);
            CHECK(json_value(json, std::string(row.json) + "_count") == h.count());
            CHECK(value_of(fams, std::string(row.name) + "_count") ==
                  static_cast<double>(h.count()));
            continue;
        }
        samples.clear();
        row.samples(m, samples);
        REQUIRE_FALSE(samples.empty());
        CHECK(fams.at(std::string(row.name)).samples.size() == samples.size());
        for (const auto& sample : samples) {
            const std::string key = json_key(row, sample);
            CAPTURE(key);
            CHECK(json_value(json, key) == sample.value);
            std::map<std::string, std::string> labels;
            for (std::size_t i = 0; i < row.label_keys.size(); ++i) {
                if (!row.label_keys[i].empty()) {
                    labels[std::string(row.label_keys[i])] = std::string(sample.labels[i]);
                }
            }
            CHECK(value_of(fams, std::string(row.name), labels) ==
                  static_cast<double>(sample.value));
        }
    }
    // The counter that had drifted (in the stats topic, missing from /metrics).
    CHECK(json_value(json, "coalesced_snapshots") == m.c.coalesced_snapshots);
    CHECK(value_of(fams, "presence_coalesced_snapshots_total") ==
          static_cast<double>(m.c.coalesced_snapshots));
    // Every family /metrics shows is a row of the table, but for the build info.
    for (const auto& [name, f] : fams) {
        CAPTURE(name);
        CHECK((names.count(name) == 1 || name == "presence_controller_info"));
    }
}

TEST_CASE("label values are escaped so any text stays one valid sample line") {
    CHECK(escape_label_value("plain-1.0") == "plain-1.0");
    CHECK(escape_label_value("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
    const std::string nasty = "v\"1\\\n} 2\n# TYPE x counter";
    const auto fams = parse_exposition(to_prometheus(metrics_snapshot{}, nasty));
    CHECK(value_of(fams, "presence_controller_info", {{"version", nasty}}) == 1);
}

TEST_CASE("the latency histogram buckets, sums and estimates quantiles") {
    latency_histogram h;
    CHECK(h.quantile_bound(0.5) == 0);
    h.observe(40us);   // <= 50 us
    h.observe(50us);   // == a bound: counted in it (le is "less or equal")
    h.observe(900us);  // <= 1 ms
    h.observe(5ms);    // <= 5 ms
    h.observe(3s);     // overflow
    CHECK(h.count() == 5);
    CHECK(h.buckets()[0] == 2);
    CHECK(h.buckets()[4] == 1);
    CHECK(h.buckets()[6] == 1);
    CHECK(h.buckets().back() == 1);
    CHECK(std::abs(h.sum_seconds() - 3.00599) < 1e-9);
    CHECK(h.quantile_bound(0.4) == 0.00005);
    CHECK(h.quantile_bound(0.6) == 0.001);
    CHECK(h.quantile_bound(0.8) == 0.005);
    CHECK(std::isinf(h.quantile_bound(0.99)));
    CHECK(format_value(0.0001) == "0.0001");
    CHECK(format_value(12) == "12");
    CHECK(format_value(INFINITY) == "+Inf");
}

TEST_CASE("health is ok only when restored, connected and the loop is alive") {
    const auto now = std::chrono::steady_clock::now();
    CHECK_FALSE(judge_health(nullptr, now, 15s).ok);
    metrics_snapshot m;
    m.taken_at = now;
    auto v = judge_health(&m, now, 15s);
    CHECK_FALSE(v.ok);
    CHECK(v.reason.find("restoring") != std::string::npos);
    m.h.restore_done = true;
    v = judge_health(&m, now, 15s);
    CHECK_FALSE(v.ok);
    CHECK(v.reason == "broker connection down");
    m.h.broker_connected = true;
    v = judge_health(&m, now + 1s, 15s);
    CHECK(v.ok);
    CHECK(v.reason == "ok");
    v = judge_health(&m, now + 20s, 15s);
    CHECK_FALSE(v.ok);
    CHECK(v.reason.find("stalled") != std::string::npos);
}

TEST_CASE("--http-listen takes HOST:PORT, [IPv6]:PORT or off, and names a bad value") {
    auto a = parse_listen_address("127.0.0.1:9102");
    REQUIRE(a);
    CHECK(a->enabled);
    CHECK(a->host == "127.0.0.1");
    CHECK(a->port == 9102);
    a = parse_listen_address("[::1]:80");
    REQUIRE(a);
    CHECK(a->host == "::1");
    CHECK(a->port == 80);
    a = parse_listen_address("0.0.0.0:65535");
    REQUIRE(a);
    CHECK(a->port == 65535);
    a = parse_listen_address("localhost:1");
    REQUIRE(a);
    a = parse_listen_address("off");
    REQUIRE(a);
    CHECK_FALSE(a->enabled);
    for (const char* bad : {"", "9102", ":9102", "host:", "host:0", "host:65536", "host:-1",
                            "host:12x", "::1:80", "[::1]", "a b:80", "OFF"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_listen_address(bad));
    }

    const char* argv_ok[] = {"presence-controller", "--http-listen", "[::1]:9200"};
    auto parsed = parse_args(3, argv_ok);
    CHECK_FALSE(parsed.exit);
    CHECK(parsed.cfg.http_enabled);
    CHECK(parsed.cfg.http_host == "::1");
    CHECK(parsed.cfg.http_port == 9200);
    const char* argv_off[] = {"presence-controller", "--http-listen", "off"};
    parsed = parse_args(3, argv_off);
    CHECK_FALSE(parsed.cfg.http_enabled);
    const char* argv_default[] = {"presence-controller"};
    parsed = parse_args(1, argv_default);
    CHECK(parsed.cfg.http_enabled);
    CHECK(parsed.cfg.http_host == "127.0.0.1");
    CHECK(parsed.cfg.http_port == 9102);
    const char* argv_bad[] = {"presence-controller", "--http-listen", "127.0.0.1:99999"};
    parsed = parse_args(3, argv_bad);
    CHECK(parsed.exit);
    CHECK(parsed.exit_code == 2);
    CHECK(parsed.message.find("127.0.0.1:99999") != std::string::npos);
    CHECK(parsed.message.find("--http-listen") != std::string::npos);
}
