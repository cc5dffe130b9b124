// Inbound decoding: the topic grammar, every error value with a real example, JSON and binary
// payloads, dispatch into the engine, and a seeded fuzz loop.
#include <doctest/doctest.h>
#include <google/protobuf/stubs/logging.h>

#include <chrono>
#include <string>
#include <vector>

#include "presence/core/engine.hpp"
#include "presence/wire/wire.hpp"
#include "test_wire_random.hpp"

namespace presence::wire {
namespace {

using namespace std::chrono_literals;

std::error_code decode(std::string_view topic, std::string_view payload = {}) {
    inbound msg;
    return decode_inbound(topic, payload, msg);
}

inbound decoded(std::string_view topic, std::string_view payload) {
    inbound msg;
    const auto ec = decode_inbound(topic, payload, msg);
    INFO("topic ", topic, ": ", ec.message());
    REQUIRE_FALSE(ec);
    return msg;
}

const core::device_key alice_phone{"alice", "phone"};

// Protobuf logs invalid UTF-8 at ERROR level; tests that feed it on purpose stay quiet.
class quiet_protobuf {
  public:
    quiet_protobuf()
        : previous_(google::protobuf::SetLogHandler(
              [](google::protobuf::LogLevel, const char*, int, const std::string&) {})) {}
    ~quiet_protobuf() { google::protobuf::SetLogHandler(previous_); }
    quiet_protobuf(const quiet_protobuf&) = delete;
    quiet_protobuf& operator=(const quiet_protobuf&) = delete;

  private:
    google::protobuf::LogHandler* previous_;
};

}  // namespace

TEST_CASE("every inbound topic shape decodes to its kind and identifiers") {
    const core::device_key device{"user-1.A_b", "device.9"};
    for (const auto kind : {inbound_kind::connect, inbound_kind::will, inbound_kind::disconnect,
                            inbound_kind::profile, inbound_kind::join, inbound_kind::leave}) {
        const bool party = kind == inbound_kind::join || kind == inbound_kind::leave;
        const std::string topic = inbound_topic(kind, device, party ? "party_7" : "");
        const auto msg = decoded(topic, {});
        CHECK(msg.kind == kind);
        CHECK(msg.device == device);
        CHECK(msg.party_id == (party ? "party_7" : ""));
    }
    CHECK(inbound_topic(inbound_kind::connect, alice_phone) == "presence/connect/alice/phone");
    CHECK(inbound_topic(inbound_kind::will, alice_phone) == "presence/will/alice/phone");
    CHECK(inbound_topic(inbound_kind::disconnect, alice_phone) ==
          "presence/disconnect/alice/phone");
    CHECK(inbound_topic(inbound_kind::profile, alice_phone) == "presence/profile/alice/phone");
    CHECK(inbound_topic(inbound_kind::join, alice_phone, "p") == "party/p/join/alice/phone");
    CHECK(inbound_topic(inbound_kind::leave, alice_phone, "p") == "party/p/leave/alice/phone");
}

TEST_CASE("topics outside the grammar are bad_topic") {
    for (const char* topic :
         {"party/a/join/u/d/extra", "/", "", "presence/connect/u", "presence/connect/u/d/",
          "presence/connect/u/d/x", "presence/kick/u/d", "party/a/kick/u/d", "Presence/will/u/d",
          "party/a/join/u", "presence/user/u", "party/a/members", "/presence/connect/u/d",
          "presence/join/u/d", "party/connect/u/d"}) {
        INFO(topic);
        CHECK(decode(topic) == error::bad_topic);
    }
}

TEST_CASE("identifiers outside 1-64 of [A-Za-z0-9._-] are bad_identifier") {
    const std::string id64(64, 'a');
    const std::string id65(65, 'a');
    CHECK_FALSE(decode("presence/connect/" + id64 + "/" + id64));
    CHECK_FALSE(decode("party/" + id64 + "/join/u/d"));
    for (const std::string& topic :
         {std::string("party/a b/join/u/d"), "presence/connect/" + id65 + "/d",
          "presence/connect/u/" + id65, "party/" + id65 + "/leave/u/d",
          std::string("presence/connect/+/d"), std::string("presence/will/u/#"),
          std::string("party/+/join/u/d"), std::string("presence/connect//d"),
          std::string("presence/connect/u/"), std::string("party//join/u/d"),
          std::string("party/p/leave/u\xc3\xa9/d"), std::string("presence/connect/u/d\n"),
          std::string("presence/connect/u/d\0x", 22)}) {
        INFO(topic);
        CHECK(decode(topic) == error::bad_identifier);
    }
    CHECK(valid_identifier("A-z_0.9"));
    CHECK_FALSE(valid_identifier(""));
    CHECK_FALSE(valid_identifier(id65));
}

TEST_CASE("payloads over the limit are payload_too_large, checked before anything else") {
    const std::string big(17 * 1024, 'x');
    CHECK(decode("presence/connect/u/d", big) == error::payload_too_large);
    CHECK(decode("not/a/topic", big) == error::payload_too_large);
    inbound msg;
    const limits tight{.max_payload_bytes = 4};
    CHECK(decode_inbound("presence/will/u/d", encode_will("12345"), msg, tight) ==
          error::payload_too_large);
    CHECK_FALSE(decode_inbound("presence/will/u/d", encode_will("12"), msg, tight));
}

TEST_CASE("unparseable payloads are bad_payload") {
    const std::string topic = "presence/connect/alice/phone";
    SUBCASE("garbage bytes") { CHECK(decode(topic, "\xff\xff\xff\xff\xff") == error::bad_payload); }
    SUBCASE("truncated protobuf") {
        const std::string full = encode_connect("session", {"Alice", "", ""});
        CHECK(decode(topic, full.substr(0, full.size() - 2)) == error::bad_payload);
    }
    SUBCASE("invalid UTF-8 in a protobuf string") {
        const quiet_protobuf quiet;
        CHECK(decode("presence/will/u/d", std::string("\x0a\x02\xc3\x28", 4)) ==
              error::bad_payload);
    }
    SUBCASE("JSON with an unknown field") {
        CHECK(decode(topic, R"({"session_id":"s1","sesion_id":"typo"})") == error::bad_payload);
    }
    SUBCASE("JSON with a wrong type") {
        CHECK(decode(topic, R"({"session_id": 5})") == error::bad_payload);
        CHECK(decode(topic, R"({"profile": "Alice"})") == error::bad_payload);
    }
    SUBCASE("malformed JSON") {
        CHECK(decode(topic, R"({"session_id": "s1")") == error::bad_payload);
        CHECK(decode(topic, "{") == error::bad_payload);
    }
    SUBCASE("JSON of another message type") {
        CHECK(decode("party/p/join/u/d", R"({"display_name":"Alice"})") == error::bad_payload);
    }
}

TEST_CASE("session ids over 128 bytes or with control characters are bad_session_id") {
    const std::string s128(128, 's');
    const std::string s129(129, 's');
    CHECK(decoded("presence/will/u/d", encode_will(s128)).session_id == s128);
    CHECK(decode("presence/will/u/d", encode_will(s129)) == error::bad_session_id);
    CHECK(decode("presence/connect/u/d", encode_connect("a\nb", {})) == error::bad_session_id);
    CHECK(decode("party/p/join/u/d", encode_session(std::string("a\0b", 3))) ==
          error::bad_session_id);
    CHECK(decode("party/p/leave/u/d", encode_session("del\x7f")) == error::bad_session_id);
    CHECK(decode("presence/disconnect/u/d", R"({"session_id":"tab\there"})") ==
          error::bad_session_id);
}

TEST_CASE("profile fields over their limits are bad_profile") {
    const std::string url1024(1024, 'u');
    const std::string url1025(1025, 'u');
    CHECK(decoded("presence/profile/u/d", encode_profile({"", url1024, ""})).profile.avatar_url ==
          url1024);
    CHECK(decode("presence/profile/u/d", encode_profile({"", url1025, ""})) == error::bad_profile);
    CHECK(decode("presence/connect/u/d", encode_connect("s", {"", url1025, ""})) ==
          error::bad_profile);
    CHECK(decode("presence/connect/u/d", encode_connect("s", {std::string(129, 'n'), "", ""})) ==
          error::bad_profile);
    CHECK(decode("presence/profile/u/d", encode_profile({"", "", std::string(257, 't')})) ==
          error::bad_profile);
    CHECK(decoded("presence/profile/u/d",
                  encode_profile({std::string(128, 'n'), "", std::string(256, 't')}))
              .profile.status_text.size() == 256);
}

TEST_CASE("JSON and binary payloads decode to the same inbound") {
    const core::profile alice{"Alice \xc3\xa9", "https://example.com/a.png", "busy"};
    struct pair {
        std::string topic, binary, json;
    };
    const std::vector<pair> pairs{
        {"presence/connect/alice/phone", encode_connect("s1", alice),
         R"({"session_id":"s1","profile":{"display_name":"Alice é",)"
         R"("avatar_url":"https://example.com/a.png","status_text":"busy"}})"},
        {"presence/will/alice/phone", encode_will("s1"), R"({"session_id":"s1"})"},
        {"presence/disconnect/alice/phone", encode_session("s1"), R"(  {"session_id": "s1"})"},
        {"presence/profile/alice/phone", encode_profile(alice),
         "\n\t{\"display_name\":\"Alice \xc3\xa9\",\"avatar_url\":\"https://example.com/a.png\","
         "\"status_text\":\"busy\"}"},
        {"party/p1/join/alice/phone", encode_session("s1"), R"({"session_id":"s1"})"},
        {"party/p1/leave/alice/phone", encode_session("s1"), R"({"session_id":"s1"})"},
    };
    for (const auto& p : pairs) {
        INFO(p.topic);
        const auto from_binary = decoded(p.topic, p.binary);
        const auto from_json = decoded(p.topic, p.json);
        CHECK(from_binary.kind == from_json.kind);
        CHECK(from_binary.party_id == from_json.party_id);
        CHECK(from_binary.device == from_json.device);
        CHECK(from_binary.session_id == from_json.session_id);
        CHECK(from_binary.profile == from_json.profile);
        CHECK(from_binary.device == alice_phone);
        const bool has_profile =
            from_binary.kind == inbound_kind::connect || from_binary.kind == inbound_kind::profile;
        CHECK(from_binary.session_id == (from_binary.kind == inbound_kind::profile ? "" : "s1"));
        CHECK(from_binary.profile == (has_profile ? alice : core::profile{}));
    }
}

TEST_CASE("an empty payload is the empty message") {
    const auto msg = decoded("presence/connect/alice/phone", "");
    CHECK(msg.session_id.empty());
    CHECK(msg.profile.empty());
    CHECK(decoded("party/p/join/alice/phone", "{}").session_id.empty());
}

TEST_CASE("decode_inbound overwrites every field of a reused inbound") {
    inbound msg;
    REQUIRE_FALSE(
        decode_inbound("presence/connect/alice/phone", encode_connect("s1", {"A", "", ""}), msg));
    REQUIRE_FALSE(decode_inbound("party/p/join/bob/tablet", "", msg));
    CHECK(msg.kind == inbound_kind::join);
    CHECK(msg.party_id == "p");
    CHECK(msg.device == core::device_key{"bob", "tablet"});
    CHECK(msg.session_id.empty());
    CHECK(msg.profile.empty());
    REQUIRE_FALSE(decode_inbound("presence/will/carol/pc", encode_will("s9"), msg));
    CHECK(msg.party_id.empty());
    CHECK(msg.session_id == "s9");
}

TEST_CASE("apply feeds each inbound kind to the matching engine method") {
    core::engine engine;
    const core::time_point t0{std::chrono::milliseconds{1'700'000'000'000}};
    auto feed = [&](std::string_view topic, std::string_view payload) {
        return apply(engine, decoded(topic, payload), t0);
    };
    CHECK(feed("presence/connect/alice/phone", encode_connect("s1", {"Alice", "", ""})) ==
          core::outcome::applied);
    CHECK(feed("party/p1/join/alice/phone", encode_session("s1")) == core::outcome::applied);
    REQUIRE(engine.snapshot("p1"));
    CHECK(engine.snapshot("p1")->members.at(0).profile.display_name == "Alice");
    CHECK(feed("presence/profile/alice/phone", encode_profile({"Al", "", ""})) ==
          core::outcome::applied);
    CHECK(engine.snapshot("p1")->members.at(0).profile.display_name == "Al");
    CHECK(feed("party/p1/leave/alice/phone", encode_session("s1")) == core::outcome::applied);
    CHECK_FALSE(engine.snapshot("p1"));
    CHECK(feed("party/p2/join/alice/phone", "") == core::outcome::applied);
    CHECK(feed("presence/will/alice/phone", encode_will("s1")) == core::outcome::applied);
    CHECK(engine.snapshot("p2")->members.at(0).state == core::member_state::reconnecting);
    CHECK(feed("presence/disconnect/alice/phone", "") == core::outcome::applied);
    CHECK_FALSE(engine.snapshot("p2"));
}

TEST_CASE("inbound subscriptions cover exactly the inbound topic shapes") {
    CHECK(inbound_subscriptions() ==
          std::vector<std::string>{
              "presence/connect/+/+", "presence/will/+/+", "presence/disconnect/+/+",
              "presence/profile/+/+", "party/+/join/+/+", "party/+/leave/+/+",
              "presence/lifecycle/connected/+/+", "presence/lifecycle/disconnected/+/+",
              "presence/broker/epoch", "presence/broker/census"});
}

TEST_CASE("errors are std::error_codes of the presence.wire category with readable text") {
    const std::error_code ec = error::bad_payload;
    CHECK(std::string(ec.category().name()) == "presence.wire");
    CHECK(&ec.category() == &error_category());
    CHECK(ec == make_error_code(error::bad_payload));
    CHECK_FALSE(std::error_code(error::ok));
    const std::vector<std::pair<error, std::string>> names{
        {error::ok, "ok"},
        {error::bad_topic, "bad_topic"},
        {error::bad_identifier, "bad_identifier"},
        {error::payload_too_large, "payload_too_large"},
        {error::bad_payload, "bad_payload"},
        {error::bad_session_id, "bad_session_id"},
        {error::bad_profile, "bad_profile"},
        {error::identity_mismatch, "identity_mismatch"}};
    for (const auto& [e, name] : names) {
        CHECK(to_string(e) == name);
        const std::string text = make_error_code(e).message();
        CHECK(text.size() > 10);
        CHECK(text.back() == '.');
    }
    CHECK(std::string(to_string(inbound_kind::disconnect)) == "disconnect");
}

TEST_CASE("random topics and bytes never crash decode_inbound and never pass invalid data") {
    const quiet_protobuf quiet;
    testing::rng r(20240521);
    const std::vector<std::string> shapes{"presence/connect/",
                                          "presence/will/",
                                          "presence/disconnect/",
                                          "presence/profile/",
                                          "party/p/join/",
                                          "party/p/leave/",
                                          "presence/lifecycle/connected/",
                                          "presence/lifecycle/disconnected/"};
    const std::vector<std::string> seeds{
        encode_connect("s1", {"Alice", "https://a", "hi"}),
        encode_will("s1"),
        encode_session("s1"),
        encode_profile({"Alice", "", ""}),
        R"({"session_id":"s1","profile":{"display_name":"A"}})",
        encode_connection_event({"u", "d"}, 7, 3, core::connection_end::taken_over),
        encode_broker_epoch(7)};
    std::size_t accepted = 0;
    for (int i = 0; i < 10'000; ++i) {
        std::string topic;
        if (r.index(8) == 0) {
            topic = std::string(broker_epoch_topic);
        } else if (r.coin()) {
            topic = shapes[r.index(shapes.size())] + "u/d";
        } else {
            topic.resize(r.index(24));
            for (auto& c : topic) c = "pa/rty+#ejoinl\0xZ"[r.index(17)];
        }
        std::string payload;
        if (r.coin()) {
            payload.resize(r.index(64));
            for (auto& c : payload) c = static_cast<char>(r.next() & 0xffU);
        } else {
            payload = seeds[r.index(seeds.size())];
            const std::size_t flips = 1 + r.index(3);
            for (std::size_t f = 0; f < flips && !payload.empty(); ++f) {
                payload[r.index(payload.size())] = static_cast<char>(r.next() & 0xffU);
            }
        }
        inbound msg;
        const auto ec = decode_inbound(topic, payload, msg);
        if (ec) {
            CHECK(&ec.category() == &error_category());
            continue;
        }
        ++accepted;
        if (msg.kind == inbound_kind::broker_epoch) {
            CHECK(msg.broker_epoch != 0);
            continue;
        }
        if (msg.kind == inbound_kind::lifecycle_connected ||
            msg.kind == inbound_kind::lifecycle_disconnected) {
            CHECK(msg.broker_epoch != 0);
            CHECK(msg.connection_seq != 0);
        }
        CHECK(valid_identifier(msg.device.user_id));
        CHECK(valid_identifier(msg.device.device_id));
        CHECK(msg.session_id.size() <= 128);
    }
    CHECK(accepted > 0);
}

}  // namespace presence::wire
