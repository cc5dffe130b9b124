// watch: a live, readable view of one party: its retained snapshot first, then every snapshot
// and event as it happens, each with its revision.
#include <iostream>

#include "commands.hpp"
#include "error.hpp"
#include "format.hpp"
#include "presence/wire/wire.hpp"
#include "session.hpp"

namespace presence::ctl {

namespace pb = presence::v1;

namespace {

// Prints one message; returns false for a payload that does not decode (reported, not fatal).
bool print(const received& msg, const std::string& members_topic, bool json) {
    const auto now = std::chrono::system_clock::now();
    if (msg.topic == members_topic) {
        if (msg.payload.empty()) {
            if (json) {
                std::cout << R"({"topic":")" << msg.topic << R"(","cleared":true})" << '\n';
            } else {
                std::cout << "party is empty (no retained snapshot)\n";
            }
            return true;
        }
        pb::PartyMembers s;
        if (!s.ParseFromString(msg.payload)) return false;
        if (json) {
            std::cout << R"({"topic":")" << msg.topic << R"(","retained":)"
                      << (msg.retained ? "true" : "false") << R"(,"members":)" << to_json(s)
                      << "}\n";
        } else {
            std::cout << describe(s, now) << '\n';
        }
        return true;
    }
    pb::PartyEvent e;
    if (!e.ParseFromString(msg.payload)) return false;
    if (json) {
        std::cout << R"({"topic":")" << msg.topic << R"(","event":)" << to_json(e) << "}\n";
    } else {
        std::cout << describe(e, now) << '\n';
    }
    return true;
}

}  // namespace

int run_watch(const common_options& common, const watch_options& opts) {
    if (!wire::valid_identifier(opts.party)) {
        throw failure(exit_usage, "bad party id '" + opts.party +
                                      "': ids are 1-64 characters of [A-Za-z0-9._-]");
    }
    auto conn = open_session(common, /*mqtt5=*/true);
    const std::string members_topic = wire::members_topic(opts.party);
    const std::string events_topic = wire::events_topic(opts.party);
    conn.mqtt->subscribe({members_topic, events_topic}, common.timeout);
    if (!common.json) {
        std::cerr << "watching party " << opts.party << " on " << common.broker
                  << " (Ctrl-C stops)\n";
    }
    const auto start = std::chrono::steady_clock::now();
    int printed = 0;
    while (!stop_requested.load()) {
        if (opts.duration && std::chrono::steady_clock::now() - start >= *opts.duration) break;
        auto msg = conn.mqtt->next(std::chrono::milliseconds(200));
        if (!msg) continue;
        if (!print(*msg, members_topic, common.json)) {
            std::cerr << "presencectl: undecodable payload on " << msg->topic << " ("
                      << msg->payload.size() << " bytes), skipped\n";
            continue;
        }
        std::cout.flush();
        if (opts.count > 0 && ++printed >= opts.count) break;
    }
    return exit_ok;
}

}  // namespace presence::ctl
