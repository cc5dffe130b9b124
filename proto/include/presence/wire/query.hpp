#pragma once
// The query protocol of presence.v1 (MQTT 5 request/response): topic rules, request decoding and
// validation, and response encoding, in protobuf and in its JSON twin. The controller serves
// queries through it; clients, tools and tests build requests and read answers through it.

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include "presence/core/types.hpp"
#include "presence/wire/payload.hpp"
#include "presence/wire/topics.hpp"

namespace presence::wire {

// The query topics (query_subscription, presence/query/<u>/<d>, presence/reply/<u>/<d>) are
// named in presence/wire/topics.hpp.
// The largest GetPresence batch; a larger one is answered with query_status::too_large.
inline constexpr std::size_t max_presence_batch = 100;
// The largest party ListMembers answers: building and encoding a member list costs the
// controller's one loop thread time in proportion to its size (tens of ms at 10,000 members),
// so bigger parties are answered with query_status::too_large; read their retained
// party/<id>/members snapshot instead.
inline constexpr std::size_t max_list_members = 1000;

// Which query a request asks.
enum class query_kind { get_presence, get_user_devices, where_now, list_members };
inline constexpr std::size_t query_kind_count = 4;
// A short lowercase name ("get_presence"), for counters and log lines.
const char* to_string(query_kind k);

// How a query was answered; mirrors presence.v1.QueryStatus.
enum class query_status { ok = 1, bad_request = 2, too_large = 3 };
inline constexpr std::size_t query_status_count = 3;
// A short lowercase name ("bad_request"), for counters and log lines.
const char* to_string(query_status s);

// Reads the requester out of a query topic; false when the topic is not
// presence/query/<valid user>/<valid device>.
bool parse_query_topic(std::string_view topic, core::device_key& requester);

// The query topic of a requester, for clients and tests.
std::string query_topic(const core::device_key& requester);

// The reply space of a requester: presence/reply/<user_id>/<device_id>.
std::string reply_topic(const core::device_key& requester);

// Whether a response topic lies in the requester's reply space (the topic itself or below it,
// without wildcards). The controller never publishes a reply anywhere else.
bool reply_topic_allowed(std::string_view response_topic, const core::device_key& requester);

// A decoded, validated query.
struct query_request {
    query_kind kind = query_kind::get_presence;
    std::vector<std::string> user_ids;  // get_presence: the batch, in request order
    std::string id;                     // the user id (devices, where_now) or the party id
};

// The outcome of decoding a request payload: either a request, or the status and a
// human-readable reason to answer with. `json` says how to answer, and is known even when the
// payload does not decode (a payload whose first non-blank byte is '{' is JSON).
struct decoded_query {
    query_status status = query_status::ok;
    std::string error;  // set when status is not ok
    bool json = false;
    bool has_kind = false;  // false when the payload did not say which query it is
    query_request request;
};

// Whether a payload is JSON: is_json_payload() in presence/wire/payload.hpp.

// Decodes and validates a QueryRequest (protobuf, or strict JSON with proto field names).
// Identifiers must follow the protocol's rule; GetPresence takes 1 to max_presence_batch ids.
decoded_query decode_query(std::string_view payload);

// The answer to GetUserDevices.
struct user_devices {
    std::string user_id;
    bool online = false;
    std::vector<core::device_view> devices;
};

// The answer to WhereNow.
struct user_parties {
    std::string user_id;
    std::vector<std::string> party_ids;
};

// A QueryResponse. `result` holds the answer matching the query (monostate for errors).
struct query_response {
    query_status status = query_status::ok;
    std::string error;
    std::variant<std::monostate, std::vector<core::user_presence>, user_devices, user_parties,
                 core::party_snapshot>
        result;
};

// Encodes a response as binary protobuf, or as JSON (proto field names, every primitive field,
// one line: the form of the other JSON outputs).
std::string encode_query_response(const query_response& response, bool json);

// Decodes a response (binary protobuf, or JSON when it starts with '{'), for clients and tests.
std::error_code decode_query_response(std::string_view payload, query_response& out);

// Encodes a request, for clients and tests. Identifiers are not validated here, so tests can
// send bad ones.
std::string encode_query_request(const query_request& request, bool json);

}  // namespace presence::wire
