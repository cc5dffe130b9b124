// plugin_cpu_bench: the broker CPU cost of the presence plugin. Runs the same load against
// mosquitto with dev-insecure.conf (no plugin) and dev.conf (plugin: token check per CONNECT,
// ACL per publish and delivery, lifecycle events), and compares the broker's CPU seconds
// (utime + stime from /proc/<pid>/stat) spent on it.
// Load per round: N raw MQTT 3.1.1 clients connect (password = a token), each publishes J joins
// (QoS 0), then all close their sockets (the broker publishes their wills). A subscriber with
// the controller role receives every join, so each is also an ACL-checked delivery.
// Usage: plugin_cpu_bench [clients=1000] [joins=5] [rounds=5] [repeats=3]

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "presence/testing/broker.hpp"
#include "presence/testing/observer.hpp"
#include "presence/testing/raw_device.hpp"
#include "presence/testing/tokens.hpp"

using namespace presence::testing;

namespace {

double cpu_seconds(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    std::getline(in, text);
    // Fields after the ")" of the command name: state is field 3; utime 14, stime 15.
    std::istringstream fields(text.substr(text.rfind(')') + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

struct result {
    double cpu_s = 0;
    double wall_s = 0;
    std::size_t delivered = 0;  // QoS 0 joins the subscriber got (bursts can drop a few)
};

result run_once(const std::string& config, const std::vector<std::string>& tokens, int joins,
                int rounds) {
    broker_options bo;
    bo.config = config;
    broker b(bo);
    observer_options login;
    login.username = std::string(controller_user);
    login.password = mint_test_token(controller_user, presence::token::role::controller);
    login.sync_topic = false;
    observer sub(b.uri(), {"party/+/join/+/+"}, login);

    const std::size_t expected = tokens.size() * static_cast<std::size_t>(joins * rounds);
    const double cpu0 = cpu_seconds(b.pid());
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < rounds; ++r) {
        std::vector<std::unique_ptr<raw_device>> devices;
        devices.reserve(tokens.size());
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            raw_device_options o;
            o.user = "u" + std::to_string(i);
            o.device = "d" + std::to_string(i);
            o.password = tokens[i];
            o.keepalive = std::chrono::seconds(60);
            devices.push_back(std::make_unique<raw_device>(b.port(), o));
            devices.back()->connect();
        }
        for (auto& d : devices) {
            for (int j = 0; j < joins; ++j) d->join("party" + std::to_string(j));
        }
        devices.clear();  // closes every socket
    }
    // Every join arrives (or, rarely, a QoS 0 join racing its socket's close is lost): wait for
    // all of them, or for the count to stop growing for two seconds.
    std::size_t seen = 0;
    while (!sub.wait_until([&](const auto& ms) { return ms.size() >= expected; },
                           std::chrono::seconds(2))) {
        const std::size_t now_seen = sub.messages().size();
        if (now_seen == seen) break;
        seen = now_seen;
    }
    const auto t1 = std::chrono::steady_clock::now();
    const std::size_t arrived = sub.messages().size();
    if (arrived < expected / 2) {
        throw std::runtime_error(config + ": only " + std::to_string(arrived) + " of " +
                                 std::to_string(expected) + " joins arrived");
    }
    // Let the broker finish the disconnects it is still processing before reading the clock.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    return {cpu_seconds(b.pid()) - cpu0, std::chrono::duration<double>(t1 - t0).count(), arrived};
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    const int clients = argc > 1 ? std::stoi(argv[1]) : 1000;
    const int joins = argc > 2 ? std::stoi(argv[2]) : 5;
    const int rounds = argc > 3 ? std::stoi(argv[3]) : 5;
    const int repeats = argc > 4 ? std::stoi(argv[4]) : 3;
    std::vector<std::string> tokens;
    for (int i = 0; i < clients; ++i) tokens.push_back(mint_test_token("u" + std::to_string(i)));

    std::vector<double> cpu_plain, cpu_plugin, wall_plain, wall_plugin;
    for (int rep = 0; rep < repeats; ++rep) {
        for (const std::string config : {"dev-insecure", "dev"}) {
            const result r = run_once(config, tokens, joins, rounds);
            (config == "dev" ? cpu_plugin : cpu_plain).push_back(r.cpu_s);
            (config == "dev" ? wall_plugin : wall_plain).push_back(r.wall_s);
            std::printf("run %d %-13s broker cpu %.3f s  wall %.3f s  joins delivered %zu\n",
                        rep + 1, config.c_str(), r.cpu_s, r.wall_s, r.delivered);
            std::fflush(stdout);
        }
    }
    const double connections = static_cast<double>(clients) * rounds;
    const double messages = connections * joins;
    const double plain = median(cpu_plain);
    const double with_plugin = median(cpu_plugin);
    std::printf("\nload: %d rounds x %d clients (connect, %d joins, socket close), %d repeats\n",
                rounds, clients, joins, repeats);
    std::printf("median broker CPU without plugin: %.3f s (%.1f us per connection)\n", plain,
                plain / connections * 1e6);
    std::printf("median broker CPU with plugin:    %.3f s (%.1f us per connection)\n", with_plugin,
                with_plugin / connections * 1e6);
    std::printf("plugin cost: %+.3f s = %+.1f us per connection (incl. %d joins), %+.0f%%\n",
                with_plugin - plain, (with_plugin - plain) / connections * 1e6, joins,
                plain > 0 ? (with_plugin - plain) / plain * 100 : 0.0);
    (void)messages;
    return 0;
}
