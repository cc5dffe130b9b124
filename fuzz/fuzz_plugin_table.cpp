// Fuzzes the plugin's connection table as the broker would drive it: each byte is one callback
// (authenticate, disconnect, tick) on one of a few client handles and device ids. Checks the
// ordering guarantees of presence.proto on the events it emits.

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "presence/plugin/connections.hpp"

using namespace presence;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static int handles[8];
    plugin::connection_table table;
    std::set<std::uint64_t> connected;
    std::set<std::uint64_t> ended;
    std::map<std::uint64_t, std::string> device_of;
    std::int64_t now_us = 1'000'000'000'000'000;
    std::uint64_t last_connected_seq = 0;

    for (std::size_t i = 0; i < size; ++i) {
        const std::uint8_t b = data[i];
        const int client = b & 7;
        now_us += 700'000;
        switch ((b >> 3) & 3) {
            case 0:
            case 1: {
                plugin::connection_info info;
                info.user = (b & 0x40) ? "u1" : "u2";
                info.device = "d" + std::to_string((b >> 4) & 3);
                info.role = (b & 0x80) && (b & 0x20) ? token::role::controller : token::role::app;
                info.expires_s = now_us / 1'000'000 + (b & 0x0F);
                if (table.check(info) == plugin::admission::ok) {
                    table.on_authenticated(&handles[client], info, now_us);
                }
                break;
            }
            case 2:
                table.on_disconnect(&handles[client], now_us);
                break;
            case 3: {
                for (const auto& device : table.on_tick(now_us)) {
                    (void)device;  // the glue would kick; a later disconnect byte may follow
                }
                break;
            }
        }
        for (const auto& e : table.take_events()) {
            if (e.seq == 0) __builtin_trap();  // only apps produce events, always with a seq
            if (e.connected) {
                // Connected events go out once each, in seq order.
                if (!connected.insert(e.seq).second || e.seq <= last_connected_seq) {
                    __builtin_trap();
                }
                last_connected_seq = e.seq;
                device_of[e.seq] = e.info.device;
            } else {
                // Disconnected once, after its own connected, with a known end.
                if (!connected.contains(e.seq) || !ended.insert(e.seq).second) __builtin_trap();
                if (device_of[e.seq] != e.info.device) __builtin_trap();
                if (e.end == plugin::connection_end::unspecified) __builtin_trap();
            }
        }
    }
    if (table.live_count() > 8 || table.size() > 16) __builtin_trap();
    return 0;
}
