#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <iostream>

#include "presence/controller/config.hpp"
#include "presence/controller/controller.hpp"

namespace {

std::atomic<bool> stop_requested{false};

extern "C" void on_signal(int) { stop_requested.store(true); }

}  // namespace

int main(int argc, char** argv) {
    const auto parsed = presence::controller::parse_args(argc, argv);
    if (parsed.exit) {
        (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.message << '\n';
        return parsed.exit_code;
    }
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
    spdlog::set_level(spdlog::level::from_str(parsed.cfg.log_level));
    spdlog::flush_on(spdlog::level::info);

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    return presence::controller::run(parsed.cfg, stop_requested);
}
