// Fuzzes the plugin's rules: newline-separated user, device, topic; the first byte picks the
// access. Checks properties that must hold for every input, besides not crashing.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "presence/plugin/auth.hpp"
#include "presence/plugin/rules.hpp"

using namespace presence;

namespace {

std::string_view next_field(std::string_view& rest) {
    const std::size_t nl = rest.find('\n');
    const std::string_view field = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    return field;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    const std::string user(next_field(rest));
    const std::string device(next_field(rest));
    const std::string_view topic = rest;
    const auto what = static_cast<plugin::access>(data[0] % 4);
    const plugin::identity app{user, device, token::role::app};
    const bool ok = plugin::allowed(app, what, topic);

    if (ok && what == plugin::access::write) {
        // An app's write is always one of its own inbound topics: no wildcard, ends in u/d.
        const std::string suffix = "/" + user + "/" + device;
        if (topic.find_first_of("+#") != std::string_view::npos || topic.size() < suffix.size() ||
            topic.substr(topic.size() - suffix.size()) != suffix) {
            __builtin_trap();
        }
    }
    if (ok && (what == plugin::access::read || what == plugin::access::subscribe)) {
        // Nothing under lifecycle, broker, inbound or the stats is ever readable by an app.
        for (const std::string_view forbidden :
             {"presence/lifecycle/", "presence/broker/", "presence/connect/", "presence/will/",
              "presence/controller/stats", "#", "presence/+", "+/"}) {
            if (topic.starts_with(forbidden)) __builtin_trap();
        }
    }
    if (ok && !plugin::valid_identifier(user)) __builtin_trap();
    // An observer may do what an app may, minus every write but its own query, plus the stats.
    if (plugin::allowed({user, device, token::role::observer}, what, topic)) {
        if (what == plugin::access::write ? topic != "presence/query/" + user + "/" + device
                                          : !ok && topic != "presence/controller/stats") {
            __builtin_trap();
        }
    }
    if (!plugin::allowed({user, device, token::role::controller}, what, topic)) {
        __builtin_trap();
    }

    const std::string key(40, 'k');
    const std::string password(topic);
    const auto result =
        plugin::authenticate(key, user.c_str(), device.c_str(), password.c_str(), 1'800'000'000);
    if (result.ok() && (!plugin::valid_identifier(user) || !plugin::valid_identifier(device))) {
        __builtin_trap();
    }
    (void)plugin::describe(result);
    return 0;
}
