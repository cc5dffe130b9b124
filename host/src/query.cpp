#include "presence/host/query.hpp"

namespace presence::host {

namespace {

core::user_presence presence_of(const core::engine& engine, const std::string& user_id) {
    if (auto user = engine.user(user_id)) return std::move(*user);
    core::user_presence unknown;
    unknown.user_id = user_id;
    return unknown;
}

wire::query_response answer(const core::engine& engine, const wire::query_request& request) {
    wire::query_response response;
    switch (request.kind) {
        case wire::query_kind::get_presence: {
            std::vector<core::user_presence> users;
            users.reserve(request.user_ids.size());
            for (const auto& id : request.user_ids) users.push_back(presence_of(engine, id));
            response.result = std::move(users);
            break;
        }
        case wire::query_kind::get_user_devices: {
            auto user = presence_of(engine, request.id);
            response.result =
                wire::user_devices{std::move(user.user_id), user.online, std::move(user.devices)};
            break;
        }
        case wire::query_kind::where_now: {
            auto user = presence_of(engine, request.id);
            response.result = wire::user_parties{std::move(user.user_id), std::move(user.parties)};
            break;
        }
        case wire::query_kind::list_members: {
            if (const auto n = engine.member_count(request.id); n > wire::max_list_members) {
                response.status = wire::query_status::too_large;
                response.error = "party " + request.id + " has " + std::to_string(n) +
                                 " members; list_members answers parties of at most " +
                                 std::to_string(wire::max_list_members) + ": read the retained " +
                                 wire::members_topic(request.id) + " instead";
                break;
            }
            auto snapshot = engine.snapshot(request.id);
            if (!snapshot) {
                snapshot.emplace();
                snapshot->party_id = request.id;
            }
            response.result = std::move(*snapshot);
            break;
        }
    }
    return response;
}

}  // namespace

const char* to_string(query_drop d) {
    switch (d) {
        case query_drop::none:
            return "none";
        case query_drop::bad_topic:
            return "bad_topic";
        case query_drop::no_response_topic:
            return "no_response_topic";
        case query_drop::response_topic_refused:
            return "response_topic_refused";
    }
    return "unknown";
}

bool is_query_topic(std::string_view topic) { return wire::in_query_space(topic); }

query_answer answer_query(const core::engine& engine, const query_message& message) {
    query_answer a;
    if (!wire::parse_query_topic(message.topic, a.requester)) {
        a.drop = query_drop::bad_topic;
        return a;
    }
    if (!message.response_topic || message.response_topic->empty()) {
        a.drop = query_drop::no_response_topic;
        return a;
    }
    if (!wire::reply_topic_allowed(*message.response_topic, a.requester)) {
        a.drop = query_drop::response_topic_refused;
        return a;
    }
    a.reply.topic.assign(*message.response_topic);
    a.reply.retained = false;

    wire::query_response response;
    bool json = false;
    if (message.payload.size() > message.max_payload_bytes) {
        json = wire::is_json_payload(message.payload);
        response.status = wire::query_status::too_large;
        response.error = "the payload has " + std::to_string(message.payload.size()) +
                         " bytes; at most " + std::to_string(message.max_payload_bytes) +
                         " are allowed";
    } else {
        auto decoded = wire::decode_query(message.payload);
        json = decoded.json;
        if (decoded.has_kind) a.kind = decoded.request.kind;
        if (decoded.status == wire::query_status::ok) {
            response = answer(engine, decoded.request);
        } else {
            response.status = decoded.status;
            response.error = std::move(decoded.error);
        }
    }
    a.status = response.status;
    a.error = response.error;
    a.reply.payload = wire::encode_query_response(response, json);
    return a;
}

const char* query_kind_name(std::size_t k) {
    return k < wire::query_kind_count ? wire::to_string(static_cast<wire::query_kind>(k))
                                      : "unknown";
}

}  // namespace presence::host
