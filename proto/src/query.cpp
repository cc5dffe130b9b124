// The query protocol: topics, request decoding and validation, response encoding.
#include "presence/wire/query.hpp"

#include <google/protobuf/util/json_util.h>

#include "convert.hpp"
#include "json.hpp"

namespace presence::wire {
namespace {

namespace pb = google::protobuf;

pb::util::JsonPrintOptions print_options() {
    pb::util::JsonPrintOptions options;
    options.always_print_primitive_fields = true;
    options.preserve_proto_field_names = true;
    return options;
}

decoded_query bad(decoded_query& d, query_status status, std::string error) {
    d.status = status;
    d.error = std::move(error);
    return std::move(d);
}

std::string quoted(std::string_view id) {
    // Identifiers in error texts are cut short, so a reply never echoes a huge payload.
    constexpr std::size_t shown = 80;
    std::string text = "\"";
    text.append(id.substr(0, shown));
    if (id.size() > shown) text.append("...");
    text.append("\"");
    return text;
}

// Checks one identifier field of a request; false (with the error set) when it is invalid.
bool check_id(decoded_query& d, std::string_view field, std::string_view id) {
    if (valid_identifier(id)) return true;
    d.status = query_status::bad_request;
    d.error = std::string(field) + " " + quoted(id) +
              " is not 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'";
    return false;
}

v1::QueryStatus to_proto(query_status s) {
    switch (s) {
        case query_status::ok:
            return v1::QUERY_STATUS_OK;
        case query_status::bad_request:
            return v1::QUERY_STATUS_BAD_REQUEST;
        case query_status::too_large:
            return v1::QUERY_STATUS_TOO_LARGE;
    }
    return v1::QUERY_STATUS_UNSPECIFIED;
}

// A user's presence as a query answers it: an unknown user (never seen) has no last_seen.
void to_proto_presence(const core::user_presence& in, v1::UserPresence& out) {
    detail::to_proto(in, out);
    if (in.last_seen == core::time_point{}) out.clear_last_seen();
}

void to_proto(const query_response& in, v1::QueryResponse& out) {
    out.set_status(to_proto(in.status));
    out.set_error(in.error);
    if (const auto* users = std::get_if<std::vector<core::user_presence>>(&in.result)) {
        auto& list = *out.mutable_presence()->mutable_users();
        list.Reserve(static_cast<int>(users->size()));
        for (const auto& u : *users) to_proto_presence(u, *list.Add());
    } else if (const auto* devices = std::get_if<user_devices>(&in.result)) {
        // Devices go through UserPresence, whose device mapping is the wire library's own.
        core::user_presence carrier;
        carrier.user_id = devices->user_id;
        carrier.devices = devices->devices;
        v1::UserPresence message;
        detail::to_proto(carrier, message);
        auto& out_devices = *out.mutable_devices();
        out_devices.set_user_id(devices->user_id);
        out_devices.set_online(devices->online);
        out_devices.mutable_devices()->Swap(message.mutable_devices());
    } else if (const auto* parties = std::get_if<user_parties>(&in.result)) {
        auto& out_parties = *out.mutable_parties();
        out_parties.set_user_id(parties->user_id);
        for (const auto& p : parties->party_ids) out_parties.add_party_ids(p);
    } else if (const auto* snapshot = std::get_if<core::party_snapshot>(&in.result)) {
        auto& members = *out.mutable_members();
        detail::to_proto(*snapshot, members);
        if (snapshot->updated_at == core::time_point{}) members.clear_updated_at();
    }
}

std::string to_json(const pb::Message& message) {
    std::string json;
    pb::util::MessageToJsonString(message, &json, print_options());
    return json;
}

// The JSON form of a response. Large results (member lists, presence batches) go through the
// wire library's direct printer, as the retained snapshots do; the envelope and the small results
// through protobuf's own printer. The unit tests compare the whole with MessageToJsonString.
std::string encode_json(const v1::QueryResponse& message) {
    std::string json = "{\"status\":";
    detail::append_json_string(v1::QueryStatus_Name(message.status()), json);
    json.append(",\"error\":");
    detail::append_json_string(message.error(), json);
    switch (message.result_case()) {
        case v1::QueryResponse::kPresence: {
            json.append(",\"presence\":{\"users\":[");
            bool first = true;
            for (const auto& u : message.presence().users()) {
                if (!first) json.push_back(',');
                first = false;
                detail::append_json(u, json);
            }
            json.append("]}");
            break;
        }
        case v1::QueryResponse::kMembers:
            json.append(",\"members\":");
            detail::append_json(message.members(), json);
            break;
        case v1::QueryResponse::kDevices:
            json.append(",\"devices\":").append(to_json(message.devices()));
            break;
        case v1::QueryResponse::kParties:
            json.append(",\"parties\":").append(to_json(message.parties()));
            break;
        case v1::QueryResponse::RESULT_NOT_SET:
            break;
    }
    json.push_back('}');
    return json;
}

}  // namespace

const char* to_string(query_kind k) {
    switch (k) {
        case query_kind::get_presence:
            return "get_presence";
        case query_kind::get_user_devices:
            return "get_user_devices";
        case query_kind::where_now:
            return "where_now";
        case query_kind::list_members:
            return "list_members";
    }
    return "unknown";
}

const char* to_string(query_status s) {
    switch (s) {
        case query_status::ok:
            return "ok";
        case query_status::bad_request:
            return "bad_request";
        case query_status::too_large:
            return "too_large";
    }
    return "unknown";
}

bool parse_query_topic(std::string_view topic, core::device_key& requester) {
    parsed_topic t;
    if (parse_topic(topic, t) != topic_error::ok || t.what != topic_class::query) return false;
    requester.user_id.assign(t.user_id);
    requester.device_id.assign(t.device_id);
    return true;
}

std::string query_topic(const core::device_key& requester) {
    return query_topic(requester.user_id, requester.device_id);
}

std::string reply_topic(const core::device_key& requester) {
    return reply_topic(requester.user_id, requester.device_id);
}

bool reply_topic_allowed(std::string_view response_topic, const core::device_key& requester) {
    parsed_topic t;
    if (parse_topic(response_topic, t) != topic_error::ok || t.what != topic_class::reply ||
        t.user_id != requester.user_id || t.device_id != requester.device_id) {
        return false;
    }
    if (t.rest.empty()) return true;
    // Below the root: "/<something>", never a wildcard or a NUL (no publish topic may hold one).
    if (t.rest.size() < 2) return false;
    return t.rest.find_first_of(std::string_view("+#\0", 3)) == std::string_view::npos;
}

decoded_query decode_query(std::string_view payload) {
    decoded_query d;
    d.json = is_json_payload(payload);
    v1::QueryRequest message;
    if (!detail::parse_message(payload, message, d.json)) {
        return bad(d, query_status::bad_request,
                   d.json ? "the payload is not a valid JSON QueryRequest"
                          : "the payload is not a valid protobuf QueryRequest");
    }
    auto& r = d.request;
    switch (message.query_case()) {
        case v1::QueryRequest::kGetPresence: {
            r.kind = query_kind::get_presence;
            d.has_kind = true;
            const auto& ids = message.get_presence().user_ids();
            if (ids.empty()) {
                return bad(d, query_status::bad_request, "get_presence.user_ids is empty");
            }
            if (static_cast<std::size_t>(ids.size()) > max_presence_batch) {
                return bad(d, query_status::too_large,
                           "get_presence.user_ids has " + std::to_string(ids.size()) +
                               " ids; at most " + std::to_string(max_presence_batch) +
                               " are allowed");
            }
            for (const auto& id : ids) {
                if (!check_id(d, "get_presence.user_ids entry", id)) return d;
            }
            r.user_ids.assign(ids.begin(), ids.end());
            return d;
        }
        case v1::QueryRequest::kGetUserDevices:
            r.kind = query_kind::get_user_devices;
            d.has_kind = true;
            if (check_id(d, "get_user_devices.user_id", message.get_user_devices().user_id())) {
                r.id = message.get_user_devices().user_id();
            }
            return d;
        case v1::QueryRequest::kWhereNow:
            r.kind = query_kind::where_now;
            d.has_kind = true;
            if (check_id(d, "where_now.user_id", message.where_now().user_id())) {
                r.id = message.where_now().user_id();
            }
            return d;
        case v1::QueryRequest::kListMembers:
            r.kind = query_kind::list_members;
            d.has_kind = true;
            if (check_id(d, "list_members.party_id", message.list_members().party_id())) {
                r.id = message.list_members().party_id();
            }
            return d;
        case v1::QueryRequest::QUERY_NOT_SET:
            break;
    }
    return bad(d, query_status::bad_request,
               "no query set: use one of get_presence, get_user_devices, where_now, "
               "list_members");
}

std::string encode_query_response(const query_response& response, bool json) {
    v1::QueryResponse message;
    to_proto(response, message);
    if (json) return encode_json(message);
    std::string binary;
    message.SerializeToString(&binary);
    return binary;
}

std::error_code decode_query_response(std::string_view payload, query_response& out) {
    v1::QueryResponse message;
    if (!detail::parse_message(payload, message)) return error::bad_payload;
    switch (message.status()) {
        case v1::QUERY_STATUS_OK:
            out.status = query_status::ok;
            break;
        case v1::QUERY_STATUS_BAD_REQUEST:
            out.status = query_status::bad_request;
            break;
        case v1::QUERY_STATUS_TOO_LARGE:
            out.status = query_status::too_large;
            break;
        default:
            return error::bad_payload;
    }
    out.error = std::move(*message.mutable_error());
    out.result = std::monostate{};
    switch (message.result_case()) {
        case v1::QueryResponse::kPresence: {
            std::vector<core::user_presence> users;
            for (auto& u : *message.mutable_presence()->mutable_users()) {
                if (auto ec = detail::from_proto(u, users.emplace_back())) return ec;
            }
            out.result = std::move(users);
            break;
        }
        case v1::QueryResponse::kDevices: {
            auto& in = *message.mutable_devices();
            v1::UserPresence carrier;
            carrier.set_user_id(in.user_id());
            carrier.mutable_devices()->Swap(in.mutable_devices());
            core::user_presence decoded;
            if (auto ec = detail::from_proto(carrier, decoded)) return ec;
            out.result = user_devices{decoded.user_id, in.online(), std::move(decoded.devices)};
            break;
        }
        case v1::QueryResponse::kParties: {
            auto& in = *message.mutable_parties();
            if (!valid_identifier(in.user_id())) return error::bad_identifier;
            user_parties parties{in.user_id(), {}};
            for (auto& p : *in.mutable_party_ids()) {
                if (!valid_identifier(p)) return error::bad_identifier;
                parties.party_ids.push_back(std::move(p));
            }
            out.result = std::move(parties);
            break;
        }
        case v1::QueryResponse::kMembers: {
            core::party_snapshot snapshot;
            if (auto ec = detail::from_proto(*message.mutable_members(), snapshot)) return ec;
            out.result = std::move(snapshot);
            break;
        }
        case v1::QueryResponse::RESULT_NOT_SET:
            break;
    }
    return {};
}

std::string encode_query_request(const query_request& request, bool json) {
    v1::QueryRequest message;
    switch (request.kind) {
        case query_kind::get_presence:
            for (const auto& id : request.user_ids) {
                message.mutable_get_presence()->add_user_ids(id);
            }
            message.mutable_get_presence();  // set the query even for an empty batch
            break;
        case query_kind::get_user_devices:
            message.mutable_get_user_devices()->set_user_id(request.id);
            break;
        case query_kind::where_now:
            message.mutable_where_now()->set_user_id(request.id);
            break;
        case query_kind::list_members:
            message.mutable_list_members()->set_party_id(request.id);
            break;
    }
    if (json) return to_json(message);
    std::string binary;
    message.SerializeToString(&binary);
    return binary;
}

}  // namespace presence::wire
