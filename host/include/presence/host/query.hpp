#pragma once
// Serving the MQTT 5 queries of presence.v1 from the engine's read views. Pure: no MQTT client,
// no clock, no logging, so every rule is reachable from a unit test; the run loop does the I/O.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "presence/core/engine.hpp"
#include "presence/wire/query.hpp"
#include "presence/wire/wire.hpp"

namespace presence::host {

// Why a query message got no answer at all. Each value is a metrics label and a log reason.
enum class query_drop {
    none = 0,
    bad_topic,               // the topic is not presence/query/<valid user>/<valid device>
    no_response_topic,       // the request carries no MQTT 5 response topic (e.g. an MQTT 3 client)
    response_topic_refused,  // the response topic is outside presence/reply/<user>/<device>
};
inline constexpr std::size_t query_drop_count = 4;
// A short lowercase name ("response_topic_refused"), for counters and log lines.
const char* to_string(query_drop d);

// Whether a topic belongs to the query space (presence/query/...), so the run loop routes it
// here rather than to the inbound decoder.
bool is_query_topic(std::string_view topic);

// One query as it arrived: topic, payload and the MQTT 5 properties that matter.
struct query_message {
    std::string_view topic;
    std::string_view payload;
    std::optional<std::string_view> response_topic;  // nullopt: the property was absent
    std::size_t max_payload_bytes = 16 * 1024;
};

// What became of one query: dropped (with why), or answered with `reply` on the response topic.
struct query_answer {
    query_drop drop = query_drop::none;
    core::device_key requester;            // known unless drop == bad_topic
    std::optional<wire::query_kind> kind;  // nullopt when the payload named no query
    wire::query_status status = wire::query_status::ok;
    std::string error;     // the reason sent back when status is not ok
    wire::outbound reply;  // topic = the response topic; not retained
};

// The label of a row of counters::queries: a query kind, or "unknown" for the last row.
const char* query_kind_name(std::size_t k);

// Checks the topic and response topic, decodes the request, and answers it from the engine:
// GetPresence (unknown users are offline with no devices), GetUserDevices, WhereNow and
// ListMembers (an unknown party has no members and revision 0). Never throws on bad input.
query_answer answer_query(const core::engine& engine, const query_message& message);

}  // namespace presence::host
