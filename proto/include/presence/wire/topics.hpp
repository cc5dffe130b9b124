#pragma once
// The topic grammar of protocol v1, header-only and dependency-free (like identifier.hpp), so the
// wire layer, the broker plugin, the controller, presencectl and the tests name, parse and build
// every topic through one copy. Parsing takes a string_view and fills a small struct of views
// into it; builders append to a std::string.
//
// To add a topic: name it below, give parse_topic() a branch that returns its topic_class, and
// add a builder. Controller-private topics belong under presence/controller/ next to status and
// stats.

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "presence/wire/identifier.hpp"

namespace presence::wire {

// The inbound message kinds, one per inbound topic shape. The last four come from the
// mosquitto_presence plugin inside the broker (presence/lifecycle/connected|disconnected/<u>/<d>,
// presence/broker/epoch and presence/broker/census); without the plugin they never arrive.
// Counters index by it, so the order is fixed.
enum class inbound_kind {
    connect,
    will,
    disconnect,
    profile,
    join,
    leave,
    lifecycle_connected,
    lifecycle_disconnected,
    broker_epoch,
    broker_census,
};

// The controller's public outputs.
enum class output_kind { members, events, user };

// What a topic is, as parse_topic() reads it.
enum class topic_class {
    unknown,            // no topic of protocol v1
    inbound,            // an inbound message: see inbound_kind
    output,             // a public output (or its /json twin): see output_kind
    query,              // presence/query/<user>/<device>
    reply,              // presence/reply/<user>/<device>[/...]
    controller_status,  // presence/controller/status
    controller_stats,   // presence/controller/stats
};

// Why a topic did not parse.
enum class topic_error {
    ok = 0,
    bad_topic,       // not one of the shapes of protocol v1
    bad_identifier,  // the shape fits, but an identifier level breaks the identifier rule
};

// The retained topic on which the plugin announces the broker run (BrokerEpoch).
inline constexpr std::string_view broker_epoch_topic = "presence/broker/epoch";
// The topic on which the plugin lists the open app connections (ConnectionCensus) after a
// controller connects.
inline constexpr std::string_view broker_census_topic = "presence/broker/census";
// The controller's retained liveness ("online"/"offline") and its retained counters.
inline constexpr std::string_view controller_status_topic = "presence/controller/status";
inline constexpr std::string_view controller_stats_topic = "presence/controller/stats";
// Appended to an output topic for its JSON twin.
inline constexpr std::string_view json_suffix = "/json";

// The MQTT subscriptions (QoS 1) that carry every inbound message, in inbound_kind order.
inline constexpr std::array<std::string_view, 10> inbound_filters{
    "presence/connect/+/+",
    "presence/will/+/+",
    "presence/disconnect/+/+",
    "presence/profile/+/+",
    "party/+/join/+/+",
    "party/+/leave/+/+",
    "presence/lifecycle/connected/+/+",
    "presence/lifecycle/disconnected/+/+",
    broker_epoch_topic,
    broker_census_topic,
};
// Subscriptions that return every retained snapshot and user record, for restore().
inline constexpr std::string_view snapshot_subscription = "party/+/members";
inline constexpr std::string_view user_subscription = "presence/user/+";
// The subscription (QoS 1) that carries every query: presence/query/<user_id>/<device_id>.
inline constexpr std::string_view query_subscription = "presence/query/+/+";

// A parsed topic: its class and kind, and views into the topic for its identifiers.
struct parsed_topic {
    topic_class what = topic_class::unknown;
    inbound_kind inbound = inbound_kind::connect;  // what == inbound
    output_kind output = output_kind::members;     // what == output
    bool json = false;                             // an output's /json twin
    std::string_view party_id;                     // join, leave, members, events
    std::string_view user_id;    // inbound (not broker_epoch/census), user output, query, reply
    std::string_view device_id;  // inbound (not broker_epoch/census), query, reply
    // reply only: what follows presence/reply/<user>/<device>, its leading '/' included ("" when
    // nothing does).
    std::string_view rest;
};

namespace topic_detail {

// The first levels of a topic; levels past the array are counted but not kept (no shape of
// protocol v1 has more than five).
struct levels {
    static constexpr std::size_t kept = 6;
    std::array<std::string_view, kept> at{};
    std::size_t count = 0;

    explicit levels(std::string_view topic) {
        std::size_t start = 0;
        while (true) {
            const std::size_t slash = topic.find('/', start);
            const std::string_view level = topic.substr(
                start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
            if (count < kept) at[count] = level;
            ++count;
            if (slash == std::string_view::npos) break;
            start = slash + 1;
        }
    }
};

inline bool id_level(std::string_view level, bool wildcards) {
    return valid_identifier(level) || (wildcards && level == "+");
}

inline topic_error check_ids(const parsed_topic& t, bool wildcards) {
    const bool party_needed =
        (t.what == topic_class::inbound &&
         (t.inbound == inbound_kind::join || t.inbound == inbound_kind::leave)) ||
        (t.what == topic_class::output && t.output != output_kind::user);
    if (party_needed && !id_level(t.party_id, wildcards)) return topic_error::bad_identifier;
    const bool user_needed = t.what != topic_class::output || t.output == output_kind::user;
    if (user_needed && !id_level(t.user_id, wildcards)) return topic_error::bad_identifier;
    const bool device_needed = t.what != topic_class::output;
    if (device_needed && !id_level(t.device_id, wildcards)) return topic_error::bad_identifier;
    return topic_error::ok;
}

}  // namespace topic_detail

// Reads a topic of protocol v1. With `wildcards` (judging a subscription filter) an identifier
// level may also be `+`; a `#` level is never an identifier. On bad_identifier `out` says which
// shape matched; on bad_topic it is unspecified.
inline topic_error parse_topic(std::string_view topic, parsed_topic& out, bool wildcards = false) {
    using topic_detail::levels;
    out = {};
    const levels t(topic);
    const auto& l = t.at;
    if (t.count > levels::kept && !(t.count >= 4 && l[0] == "presence" && l[1] == "reply")) {
        return topic_error::bad_topic;
    }
    if (l[0] == "party") {
        if ((t.count == 3 || t.count == 4) && (l[2] == "members" || l[2] == "events")) {
            if (t.count == 4 && l[3] != "json") return topic_error::bad_topic;
            out.what = topic_class::output;
            out.output = l[2] == "members" ? output_kind::members : output_kind::events;
            out.json = t.count == 4;
            out.party_id = l[1];
        } else if (t.count == 5 && (l[2] == "join" || l[2] == "leave")) {
            out.what = topic_class::inbound;
            out.inbound = l[2] == "join" ? inbound_kind::join : inbound_kind::leave;
            out.party_id = l[1];
            out.user_id = l[3];
            out.device_id = l[4];
        } else {
            return topic_error::bad_topic;
        }
        return topic_detail::check_ids(out, wildcards);
    }
    if (l[0] != "presence" || t.count < 3) return topic_error::bad_topic;
    const std::string_view verb = l[1];
    if (t.count == 4 && (verb == "connect" || verb == "will" || verb == "disconnect" ||
                         verb == "profile" || verb == "query")) {
        out.what = verb == "query" ? topic_class::query : topic_class::inbound;
        if (verb == "will") out.inbound = inbound_kind::will;
        if (verb == "disconnect") out.inbound = inbound_kind::disconnect;
        if (verb == "profile") out.inbound = inbound_kind::profile;
        out.user_id = l[2];
        out.device_id = l[3];
    } else if (t.count == 5 && verb == "lifecycle" &&
               (l[2] == "connected" || l[2] == "disconnected")) {
        out.what = topic_class::inbound;
        out.inbound = l[2] == "connected" ? inbound_kind::lifecycle_connected
                                          : inbound_kind::lifecycle_disconnected;
        out.user_id = l[3];
        out.device_id = l[4];
    } else if (t.count == 3 && verb == "broker" && (l[2] == "epoch" || l[2] == "census")) {
        out.what = topic_class::inbound;
        out.inbound = l[2] == "epoch" ? inbound_kind::broker_epoch : inbound_kind::broker_census;
        return topic_error::ok;
    } else if ((t.count == 3 || t.count == 4) && verb == "user") {
        if (t.count == 4 && l[3] != "json") return topic_error::bad_topic;
        out.what = topic_class::output;
        out.output = output_kind::user;
        out.json = t.count == 4;
        out.user_id = l[2];
    } else if (t.count >= 4 && verb == "reply") {
        out.what = topic_class::reply;
        out.user_id = l[2];
        out.device_id = l[3];
        out.rest = topic.substr(static_cast<std::size_t>(l[3].data() - topic.data()) + l[3].size());
    } else if (t.count == 3 && verb == "controller" && l[2] == "status") {
        out.what = topic_class::controller_status;
        return topic_error::ok;
    } else if (t.count == 3 && verb == "controller" && l[2] == "stats") {
        out.what = topic_class::controller_stats;
        return topic_error::ok;
    } else {
        return topic_error::bad_topic;
    }
    return topic_detail::check_ids(out, wildcards);
}

// Whether a topic lies in the query space (presence/query/...), so a host routes it to the query
// server, which answers or drops it, rather than to the inbound decoder.
inline bool in_query_space(std::string_view topic) {
    return topic.substr(0, 15) == std::string_view("presence/query/");
}

// The level that names an inbound kind in its topic ("connect", "join", "connected", ...).
inline std::string_view inbound_level(inbound_kind kind) {
    constexpr std::array<std::string_view, 10> names{
        "connect", "will",      "disconnect",   "profile", "join",
        "leave",   "connected", "disconnected", "epoch",   "census"};
    return names[static_cast<std::size_t>(kind)];
}

// Appends the inbound topic of a kind: presence/<verb>/<u>/<d>, party/<p>/<verb>/<u>/<d>,
// presence/lifecycle/<connected|disconnected>/<u>/<d>, presence/broker/epoch or
// presence/broker/census (the last two ignore the identifiers).
inline void append_inbound_topic(std::string& out, inbound_kind kind, std::string_view user_id,
                                 std::string_view device_id, std::string_view party_id = {}) {
    switch (kind) {
        case inbound_kind::broker_epoch:
            out.append(broker_epoch_topic);
            return;
        case inbound_kind::broker_census:
            out.append(broker_census_topic);
            return;
        case inbound_kind::join:
        case inbound_kind::leave:
            out.append("party/").append(party_id).append("/");
            break;
        case inbound_kind::lifecycle_connected:
        case inbound_kind::lifecycle_disconnected:
            out.append("presence/lifecycle/");
            break;
        default:
            out.append("presence/");
            break;
    }
    out.append(inbound_level(kind)).append("/").append(user_id).append("/").append(device_id);
}

// Appends party/<p>/members (or /events), or presence/user/<u>; `json` adds the /json suffix.
inline void append_output_topic(std::string& out, output_kind kind, std::string_view id,
                                bool json = false) {
    switch (kind) {
        case output_kind::members:
            out.append("party/").append(id).append("/members");
            break;
        case output_kind::events:
            out.append("party/").append(id).append("/events");
            break;
        case output_kind::user:
            out.append("presence/user/").append(id);
            break;
    }
    if (json) out.append(json_suffix);
}

// Appends presence/query/<u>/<d>: where a requester sends its queries.
inline void append_query_topic(std::string& out, std::string_view user_id,
                               std::string_view device_id) {
    out.append("presence/query/").append(user_id).append("/").append(device_id);
}

// Appends presence/reply/<u>/<d>: the root of a requester's reply space.
inline void append_reply_topic(std::string& out, std::string_view user_id,
                               std::string_view device_id) {
    out.append("presence/reply/").append(user_id).append("/").append(device_id);
}

// Controller-private topics (only the controller role may read or write them; the plugin's ACL
// grants an app none of them). New private topics, such as durable state records under
// presence/controller/state/, go here with a topic_class and a parse_topic() branch.

// The controller's private retained record of broker runs (BrokerRecord): one topic, read at
// restore next to the per-user records of presence/controller/state/user/<u>.
inline constexpr std::string_view controller_broker_state_topic =
    "presence/controller/state/broker";

// Appends presence/controller/<client_id>/sync: the marker a controller publishes to itself to
// know that every retained message before it has arrived.
inline void append_controller_sync_topic(std::string& out, std::string_view client_id) {
    out.append("presence/controller/").append(client_id).append("/sync");
}

// The same builders returning a new string, for call sites that do not reuse a buffer.
inline std::string inbound_topic(inbound_kind kind, std::string_view user_id,
                                 std::string_view device_id, std::string_view party_id = {}) {
    std::string out;
    out.reserve(32 + party_id.size() + user_id.size() + device_id.size());
    append_inbound_topic(out, kind, user_id, device_id, party_id);
    return out;
}
inline std::string output_topic(output_kind kind, std::string_view id, bool json = false) {
    std::string out;
    out.reserve(24 + id.size());
    append_output_topic(out, kind, id, json);
    return out;
}
inline std::string query_topic(std::string_view user_id, std::string_view device_id) {
    std::string out;
    append_query_topic(out, user_id, device_id);
    return out;
}
inline std::string reply_topic(std::string_view user_id, std::string_view device_id) {
    std::string out;
    append_reply_topic(out, user_id, device_id);
    return out;
}

}  // namespace presence::wire
