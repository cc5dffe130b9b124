// Outbound messages: what render() publishes for each effect, the JSON twin's shape, randomised
// round trips, and the rejection of retained data that must not reach the engine.
#include <doctest/doctest.h>
#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <string>
#include <vector>

#include "presence/v1/presence.pb.h"
#include "presence/wire/wire.hpp"
#include "test_wire_random.hpp"

namespace presence::wire {
namespace {

using namespace std::chrono_literals;

const core::time_point t0{std::chrono::milliseconds{1'700'000'000'123}};

core::member_view alice_present() {
    core::member_view m;
    m.user_id = "alice";
    m.state = core::member_state::present;
    m.profile = {"Alice", "https://example.com/alice.png", "at the party"};
    m.joined_at = t0;
    m.devices = {{"phone", core::device_state::live, {}, "s1", {}}};
    return m;
}

core::member_view bob_reconnecting() {
    core::member_view m;
    m.user_id = "bob";
    m.state = core::member_state::reconnecting;
    m.reconnect_deadline = t0 + 120s;
    m.joined_at = t0 - 5s;
    m.devices = {{"tablet", core::device_state::reconnecting, t0 + 120s, "s2", {"s0"}}};
    return m;
}

// What a public message keeps of a value: everything but the devices' private fields.
void strip(std::vector<core::device_view>& devices) {
    for (auto& d : devices) {
        d.session_id.clear();
        d.ended_session_ids.clear();
        d.broker_epoch = 0;
        d.connection_seq = 0;
    }
}
core::party_snapshot lean(core::party_snapshot s) {
    for (auto& m : s.members) strip(m.devices);
    return s;
}
core::party_event lean(core::party_event e) {
    strip(e.member.devices);
    return e;
}
core::user_presence lean(core::user_presence u) {
    strip(u.devices);
    return u;
}

core::party_snapshot sample_snapshot() {
    return {"p1", 42, t0, {alice_present(), bob_reconnecting()}};
}

std::vector<outbound> rendered(const core::effect& e) {
    std::vector<outbound> out;
    render(e, out);
    return out;
}

bool contains(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

// Parses a JSON twin back through protobuf and decodes it, so the twin is checked field by field.
template <class Message, class Value>
Value from_json_twin(const std::string& json) {
    Message message;
    REQUIRE(google::protobuf::util::JsonStringToMessage(json, &message).ok());
    Value value;
    REQUIRE_FALSE(decode(message.SerializeAsString(), value));
    return value;
}

}  // namespace

TEST_CASE("a snapshot renders as retained binary and JSON on party/<p>/members") {
    const auto snapshot = sample_snapshot();
    const auto out = rendered(core::publish_snapshot{snapshot});
    REQUIRE(out.size() == 2);
    CHECK(out[0].topic == "party/p1/members");
    CHECK(out[0].retained);
    CHECK(out[0].payload == encode(snapshot));
    CHECK(out[1].topic == "party/p1/members/json");
    CHECK(out[1].retained);
    CHECK(out[1].payload == encode_json(snapshot));
    core::party_snapshot back;
    REQUIRE_FALSE(decode(out[0].payload, back));
    CHECK(back == lean(snapshot));
    CHECK(from_json_twin<v1::PartyMembers, core::party_snapshot>(out[1].payload) == lean(snapshot));
}

TEST_CASE("a cleared party renders as empty retained payloads on both snapshot topics") {
    const auto out = rendered(core::clear_snapshot{"p1"});
    REQUIRE(out.size() == 2);
    CHECK(out[0].topic == "party/p1/members");
    CHECK(out[1].topic == "party/p1/members/json");
    for (const auto& o : out) {
        CHECK(o.retained);
        CHECK(o.payload.empty());
    }
}

TEST_CASE("without json twins every effect renders its protobuf message alone") {
    const core::party_event event{
        "p1", 43, core::event_kind::joined, core::leave_reason::explicit_leave, alice_present(),
        t0};
    for (const core::effect& e : std::vector<core::effect>{
             core::publish_snapshot{sample_snapshot()}, core::publish_event{event}}) {
        std::vector<outbound> out;
        render(e, out, {.json_twins = false});
        REQUIRE(out.size() == 1);
        CHECK_FALSE(out[0].topic.ends_with(json_suffix));
        CHECK(out == std::vector<outbound>{rendered(e)[0]});
    }
}

TEST_CASE("without json twins a cleared party still clears its retained json twin") {
    std::vector<outbound> out;
    render(core::clear_snapshot{"p1"}, out, {.json_twins = false});
    CHECK(out.size() == 2);
    CHECK(out == rendered(core::clear_snapshot{"p1"}));
}

TEST_CASE("an event renders as non-retained binary and JSON on party/<p>/events") {
    const core::party_event event{
        "p1",     43, core::event_kind::left, core::leave_reason::timeout, bob_reconnecting(),
        t0 + 120s};
    const auto out = rendered(core::publish_event{event});
    REQUIRE(out.size() == 2);
    CHECK(out[0].topic == "party/p1/events");
    CHECK(out[1].topic == "party/p1/events/json");
    CHECK_FALSE(out[0].retained);
    CHECK_FALSE(out[1].retained);
    core::party_event back;
    REQUIRE_FALSE(decode(out[0].payload, back));
    CHECK(back == lean(event));
    CHECK(contains(out[1].payload, R"("kind":"EVENT_KIND_LEFT")"));
    CHECK(contains(out[1].payload, R"("reason":"LEAVE_REASON_TIMEOUT")"));
    CHECK(from_json_twin<v1::PartyEvent, core::party_event>(out[1].payload) == lean(event));
}

TEST_CASE("a user record renders as retained binary and JSON on presence/user/<u>") {
    const core::user_presence user{"alice",
                                   true,
                                   t0,
                                   {"Alice", "", ""},
                                   {{"phone", core::device_state::live, {}, "s1", {}}},
                                   {"p1", "p2"}};
    const auto out = rendered(core::publish_user{user});
    REQUIRE(out.size() == 2);
    CHECK(out[0].topic == "presence/user/alice");
    CHECK(out[1].topic == "presence/user/alice/json");
    CHECK(out[0].retained);
    CHECK(out[1].retained);
    core::user_presence back;
    REQUIRE_FALSE(decode(out[0].payload, back));
    CHECK(back == lean(user));
    CHECK(contains(out[1].payload, R"("parties":["p1","p2"])"));
    CHECK(contains(out[1].payload, R"("online":true)"));
}

TEST_CASE("render appends to the output vector") {
    std::vector<outbound> out;
    render(core::clear_snapshot{"a"}, out);
    render(core::clear_snapshot{"b"}, out);
    REQUIRE(out.size() == 4);
    CHECK(out[2].topic == "party/b/members");
}

TEST_CASE("snapshot JSON is one line with proto field names and every primitive field") {
    const std::string json = encode_json(sample_snapshot());
    CAPTURE(json);
    CHECK_FALSE(contains(json, "\n"));
    for (const char* part :
         {R"("party_id":"p1")", R"("revision":"42")", R"("members":[)", R"("user_id":"alice")",
          R"("state":"MEMBER_STATE_PRESENT")", R"("display_name":"Alice")",
          R"("avatar_url":"https://example.com/alice.png")", R"("status_text":"at the party")",
          R"("state":"MEMBER_STATE_RECONNECTING")", R"("display_name":"")",
          R"("updated_at":"2023-11-14T22:13:20.123Z")", R"("joined_at":"2023-11-14T22:13:20.123Z")",
          R"("reconnect_deadline":"2023-11-14T22:15:20.123Z")", R"("state":"DEVICE_STATE_LIVE")"}) {
        CHECK(contains(json, part));
    }
    CHECK_FALSE(contains(json, "partyId"));
    // The lean public protocol (v1.1): no controller bookkeeping in what apps receive.
    for (const char* field :
         {"session_id", "ended_session_ids", "broker_epoch", "connection_seq"}) {
        CHECK_FALSE(contains(json, field));
        CHECK_FALSE(
            contains(encode_json(sample_snapshot().members[0].devices.empty()
                                     ? core::user_presence{}
                                     : core::user_presence{"alice",
                                                           true,
                                                           t0,
                                                           {},
                                                           sample_snapshot().members[0].devices,
                                                           {"p1"}}),
                     field));
    }
}

TEST_CASE("the private user record keeps what the public messages dropped") {
    core::user_record r;
    r.user_id = "alice";
    r.last_seen = t0;
    r.devices.push_back({"phone", core::device_state::reconnecting, t0 + 1s, "s2", {"s1"}, 7, 9});
    r.memberships.push_back({"p1", t0, {"phone"}});
    core::user_record back;
    REQUIRE_FALSE(decode(encode(r), back));
    CHECK(back == r);
    CHECK(controller_state_topic("alice") == "presence/controller/state/user/alice");
    v1::UserRecord bad;
    REQUIRE(bad.ParseFromString(encode(r)));
    bad.mutable_devices(0)->set_session_id("a\nb");
    CHECK(decode(bad.SerializeAsString(), back) == error::bad_session_id);
    bad = {};
    REQUIRE(bad.ParseFromString(encode(r)));
    bad.mutable_memberships(0)->set_party_id("a b");
    CHECK(decode(bad.SerializeAsString(), back) == error::bad_identifier);
}

TEST_CASE("reconnect_deadline is absent unless reconnecting, and reason only set for left") {
    core::party_snapshot one{"p1", 1, t0, {alice_present()}};
    one.members[0].reconnect_deadline = t0 + 1s;  // ignored: the member is present
    one.members[0].devices[0].reconnect_deadline = t0 + 1s;
    CHECK_FALSE(contains(encode_json(one), "reconnect_deadline"));
    v1::PartyMembers message;
    REQUIRE(message.ParseFromString(encode(one)));
    CHECK_FALSE(message.members(0).has_reconnect_deadline());
    CHECK_FALSE(message.members(0).devices(0).has_reconnect_deadline());

    const core::party_event joined{
        "p1", 2, core::event_kind::joined, core::leave_reason::timeout, alice_present(), t0};
    CHECK(contains(encode_json(joined), R"("reason":"LEAVE_REASON_UNSPECIFIED")"));
    core::party_event back;
    REQUIRE_FALSE(decode(encode(joined), back));
    CHECK(back.reason == core::leave_reason::explicit_leave);
}

TEST_CASE("randomised snapshots, events and user records survive encode and decode") {
    testing::rng r(7);
    for (int i = 0; i < 300; ++i) {
        const auto snapshot = testing::random_snapshot(r);
        core::party_snapshot s;
        REQUIRE_FALSE(decode(encode(snapshot), s));
        CHECK(s == snapshot);
        CHECK(from_json_twin<v1::PartyMembers, core::party_snapshot>(encode_json(snapshot)) ==
              snapshot);

        const auto event = testing::random_event(r);
        core::party_event e;
        REQUIRE_FALSE(decode(encode(event), e));
        CHECK(e == event);
        CHECK(from_json_twin<v1::PartyEvent, core::party_event>(encode_json(event)) == event);

        const auto user = testing::random_user(r);
        core::user_presence u;
        REQUIRE_FALSE(decode(encode(user), u));
        CHECK(u == user);
        CHECK(from_json_twin<v1::UserPresence, core::user_presence>(encode_json(user)) == user);
    }
}

// The project prints JSON itself (protobuf's printer is far too slow for the presence path); the
// library's printer is the reference it must match byte for byte.
template <class Message>
std::string reference_json(const std::string& binary) {
    Message message;
    REQUIRE(message.ParseFromString(binary));
    google::protobuf::util::JsonPrintOptions options;
    options.always_print_primitive_fields = true;
    options.preserve_proto_field_names = true;
    std::string json;
    REQUIRE(google::protobuf::util::MessageToJsonString(message, &json, options).ok());
    return json;
}

TEST_CASE("the JSON twin is byte-identical to protobuf's MessageToJsonString") {
    testing::rng r(2024);
    for (int i = 0; i < 300; ++i) {
        const auto snapshot = testing::random_snapshot(r);
        CHECK(encode_json(snapshot) == reference_json<v1::PartyMembers>(encode(snapshot)));
        const auto event = testing::random_event(r);
        CHECK(encode_json(event) == reference_json<v1::PartyEvent>(encode(event)));
        const auto user = testing::random_user(r);
        CHECK(encode_json(user) == reference_json<v1::UserPresence>(encode(user)));
    }
    const core::party_snapshot extremes{
        "p",
        ~std::uint64_t{0},
        core::time_point{std::chrono::milliseconds{253'402'300'799'999}},
        {}};
    CHECK(encode_json(extremes) == reference_json<v1::PartyMembers>(encode(extremes)));
}

TEST_CASE("the JSON twin escapes every code point exactly as protobuf does") {
    auto utf8 = [](std::uint32_t cp) {
        std::string s;
        if (cp < 0x80) {
            s += static_cast<char>(cp);
        } else if (cp < 0x800) {
            s += static_cast<char>(0xc0 | (cp >> 6));
            s += static_cast<char>(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            s += static_cast<char>(0xe0 | (cp >> 12));
            s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            s += static_cast<char>(0x80 | (cp & 0x3f));
        } else {
            s += static_cast<char>(0xf0 | (cp >> 18));
            s += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
            s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            s += static_cast<char>(0x80 | (cp & 0x3f));
        }
        return s;
    };
    constexpr std::uint32_t chunk = 1024;
    for (std::uint32_t base = 0; base < 0x110000; base += chunk) {
        core::user_presence user{"u", false, {}, {}, {}, {}};
        for (std::uint32_t cp = base; cp < base + chunk; ++cp) {
            if (cp >= 0xd800 && cp < 0xe000) continue;  // surrogates are not valid UTF-8
            user.profile.status_text += utf8(cp);
        }
        INFO("code points from ", base);
        CHECK(encode_json(user) == reference_json<v1::UserPresence>(encode(user)));
    }
}

TEST_CASE("render reuses its messages without leaking fields from one effect into the next") {
    testing::rng r(99);
    std::vector<outbound> out;
    for (int i = 0; i < 200; ++i) {
        out.clear();
        const auto snapshot = testing::random_snapshot(r);
        const auto event = testing::random_event(r);
        const auto user = testing::random_user(r);
        render(core::publish_snapshot{snapshot}, out);
        render(core::publish_event{event}, out);
        render(core::publish_user{user}, out);
        REQUIRE(out.size() == 6);
        CHECK(out[0].payload == encode(snapshot));
        CHECK(out[1].payload == encode_json(snapshot));
        CHECK(out[2].payload == encode(event));
        CHECK(out[3].payload == encode_json(event));
        CHECK(out[4].payload == encode(user));
        CHECK(out[5].payload == encode_json(user));
    }
}

TEST_CASE("decode overwrites every field of a reused value") {
    testing::rng r(11);
    core::party_snapshot s = testing::random_snapshot(r);
    const core::party_snapshot small{"p", 1, t0, {}};
    REQUIRE_FALSE(decode(encode(small), s));
    CHECK(s == small);
    core::user_presence u = testing::random_user(r);
    const core::user_presence bare{"u", false, {}, {}, {}, {}};
    REQUIRE_FALSE(decode(encode(bare), u));
    CHECK(u == bare);
}

TEST_CASE("retained data with bad identifiers or unspecified enums is rejected") {
    v1::PartyMembers good;
    good.set_party_id("p1");
    auto* m = good.add_members();
    m->set_user_id("alice");
    m->set_state(v1::MEMBER_STATE_PRESENT);
    auto* d = m->add_devices();
    d->set_device_id("phone");
    d->set_state(v1::DEVICE_STATE_LIVE);
    core::party_snapshot out;
    REQUIRE_FALSE(decode(good.SerializeAsString(), out));

    auto rejects = [&](auto&& mutate, error expected) {
        v1::PartyMembers bad = good;
        mutate(bad);
        CHECK(decode(bad.SerializeAsString(), out) == expected);
    };
    rejects([](v1::PartyMembers& b) { b.set_party_id("a b"); }, error::bad_identifier);
    rejects([](v1::PartyMembers& b) { b.clear_party_id(); }, error::bad_identifier);
    rejects([](v1::PartyMembers& b) { b.mutable_members(0)->set_user_id(std::string(65, 'u')); },
            error::bad_identifier);
    rejects(
        [](v1::PartyMembers& b) { b.mutable_members(0)->mutable_devices(0)->set_device_id("+"); },
        error::bad_identifier);
    rejects(
        [](v1::PartyMembers& b) { b.mutable_members(0)->set_state(v1::MEMBER_STATE_UNSPECIFIED); },
        error::bad_payload);
    rejects(
        [](v1::PartyMembers& b) {
            b.mutable_members(0)->set_state(static_cast<v1::MemberState>(9));
        },
        error::bad_payload);
    rejects(
        [](v1::PartyMembers& b) {
            b.mutable_members(0)->mutable_devices(0)->set_state(v1::DEVICE_STATE_UNSPECIFIED);
        },
        error::bad_payload);
    rejects(
        [](v1::PartyMembers& b) {
            b.mutable_members(0)->mutable_profile()->set_avatar_url(std::string(1025, 'x'));
        },
        error::bad_profile);
    rejects([](v1::PartyMembers& b) { b.mutable_updated_at()->set_seconds(-62135596801); },
            error::bad_payload);
    rejects([](v1::PartyMembers& b) { b.mutable_members(0)->mutable_joined_at()->set_nanos(-1); },
            error::bad_payload);
    CHECK(decode("\xff\xff\xff", out) == error::bad_payload);
    CHECK(decode("", out) == error::bad_identifier);

    v1::PartyEvent event;
    event.set_party_id("p1");
    event.set_kind(v1::EVENT_KIND_LEFT);
    event.set_reason(v1::LEAVE_REASON_UNSPECIFIED);
    *event.mutable_member() = good.members(0);
    core::party_event e;
    CHECK(decode(event.SerializeAsString(), e) == error::bad_payload);
    event.set_reason(v1::LEAVE_REASON_SIGN_OUT);
    CHECK_FALSE(decode(event.SerializeAsString(), e));
    event.set_kind(v1::EVENT_KIND_UNSPECIFIED);
    CHECK(decode(event.SerializeAsString(), e) == error::bad_payload);
    event.set_kind(v1::EVENT_KIND_JOINED);
    event.clear_member();
    CHECK(decode(event.SerializeAsString(), e) == error::bad_payload);

    v1::UserPresence user;
    user.set_user_id("alice");
    user.add_parties("p1");
    core::user_presence u;
    CHECK_FALSE(decode(user.SerializeAsString(), u));
    user.add_parties("bad/party");
    CHECK(decode(user.SerializeAsString(), u) == error::bad_identifier);
}

TEST_CASE("outbound topic names follow the protocol") {
    CHECK(members_topic("p1") == "party/p1/members");
    CHECK(events_topic("p1") == "party/p1/events");
    CHECK(user_topic("alice") == "presence/user/alice");
    CHECK(json_suffix == "/json");
}

TEST_CASE("broker_record_round_trips_and_even_an_empty_one_encodes_to_something") {
    // The controller-private broker-run record: what a restarted controller knows of broker runs.
    const core::broker_record r{9, t0, {5, 7}};
    core::broker_record back;
    REQUIRE_FALSE(decode(encode(r), back));
    CHECK(back == r);
    CHECK(controller_broker_state_topic == "presence/controller/state/broker");
    // Never empty (its format field), so publishing it writes the v1.1 marker, never a clear.
    CHECK_FALSE(encode(core::broker_record{}).empty());
    REQUIRE_FALSE(decode(encode(core::broker_record{}), back));
    CHECK(back == core::broker_record{});
    CHECK(decode("\xff\xff", back) == error::bad_payload);
}

}  // namespace presence::wire
