// who, where and members: MQTT 5 request/response queries served by the controller
// (proto/presence/v1/presence.proto, "Queries"). The request goes to
// presence/query/<user>/<device> with response topic presence/reply/<user>/<device> and random
// correlation data; the reply with the same correlation data is the answer.
#include "presence/wire/query.hpp"

#include <unistd.h>

#include <iostream>
#include <random>

#include "commands.hpp"
#include "error.hpp"
#include "format.hpp"
#include "mqtt_client.hpp"
#include "presence/wire/wire.hpp"
#include "session.hpp"

namespace presence::ctl {

namespace pb = presence::v1;

namespace {

std::string random_bytes(std::size_t n) {
    std::random_device rd;
    std::string out(n, '\0');
    for (auto& c : out) c = static_cast<char>(rd() & 0xff);
    return out;
}

pb::QueryResponse ask(const common_options& common, const pb::QueryRequest& request) {
    auto conn = open_session(common, /*mqtt5=*/true);
    const std::string reply_topic = wire::reply_topic(conn.user, conn.device);
    conn.mqtt->subscribe({reply_topic}, common.timeout);
    const std::string correlation = random_bytes(16);
    conn.mqtt->publish(wire::query_topic(conn.user, conn.device), request.SerializeAsString(),
                       reply_topic, correlation);
    const auto deadline = std::chrono::steady_clock::now() + common.timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        auto msg = conn.mqtt->next(left);
        if (!msg) break;
        if (msg->correlation_data != correlation) continue;  // someone else's reply
        pb::QueryResponse response;
        if (!response.ParseFromString(msg->payload)) {
            throw failure(exit_broker, "the reply on " + msg->topic + " is not a QueryResponse");
        }
        if (response.status() != pb::QUERY_STATUS_OK) {
            // BAD_REQUEST and TOO_LARGE: the question was wrong, not the system.
            throw failure(
                exit_usage,
                "the controller refused the query: " + pb::QueryStatus_Name(response.status()) +
                    (response.error().empty() ? "" : " (" + response.error() + ")"));
        }
        return response;
    }
    throw failure(exit_broker, "no reply within " + std::to_string(common.timeout.count()) +
                                   " ms (is the controller running and serving queries?)");
}

void require_ids(const std::vector<std::string>& ids, const char* what) {
    for (const auto& id : ids) {
        if (!wire::valid_identifier(id)) {
            throw failure(exit_usage, std::string("bad ") + what + " '" + id +
                                          "': ids are 1-64 characters of [A-Za-z0-9._-]");
        }
    }
    if (ids.size() > wire::max_presence_batch) {
        throw failure(exit_usage,
                      "at most " + std::to_string(wire::max_presence_batch) + " users per query");
    }
}

}  // namespace

int run_who(const common_options& common, const std::vector<std::string>& users) {
    require_ids(users, "user id");
    pb::QueryRequest req;
    for (const auto& u : users) req.mutable_get_presence()->add_user_ids(u);
    const auto res = ask(common, req);
    bool all_online = true;
    if (common.json) std::cout << to_json(res) << '\n';
    for (const auto& u : res.presence().users()) {
        if (!common.json) std::cout << describe(u) << '\n';
        all_online = all_online && u.online();
    }
    return all_online ? exit_ok : exit_not_found;
}

int run_where(const common_options& common, const std::string& user) {
    require_ids({user}, "user id");
    pb::QueryRequest req;
    req.mutable_where_now()->set_user_id(user);
    const auto res = ask(common, req);
    if (common.json) {
        std::cout << to_json(res) << '\n';
    } else {
        for (const auto& p : res.parties().party_ids()) std::cout << p << '\n';
    }
    return res.parties().party_ids_size() > 0 ? exit_ok : exit_not_found;
}

int run_members(const common_options& common, const std::string& party) {
    require_ids({party}, "party id");
    pb::QueryRequest req;
    req.mutable_list_members()->set_party_id(party);
    const auto res = ask(common, req);
    const auto now = std::chrono::system_clock::now();
    if (common.json) {
        std::cout << to_json(res) << '\n';
    } else {
        std::cout << party << " revision " << res.members().revision() << ", "
                  << res.members().members_size() << " members\n";
        for (const auto& m : res.members().members()) std::cout << "  " << describe(m, now) << '\n';
    }
    return res.members().members_size() > 0 ? exit_ok : exit_not_found;
}

}  // namespace presence::ctl
