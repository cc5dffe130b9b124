#include "connect.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <charconv>
#include <filesystem>
#include <thread>

namespace presence::controller {

namespace {

constexpr auto poll_step = std::chrono::milliseconds(100);

void sleep_unless_stopped(std::chrono::milliseconds total, const std::atomic<bool>& stop) {
    const auto until = std::chrono::steady_clock::now() + total;
    while (!stop.load() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(poll_step);
    }
}

bool is_tcp_socket(int fd) {
    int type = 0;
    socklen_t type_len = sizeof(type);
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 || type != SOCK_STREAM) {
        return false;
    }
    sockaddr_storage addr{};
    socklen_t addr_len = sizeof(addr);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0) return false;
    return addr.ss_family == AF_INET || addr.ss_family == AF_INET6;
}

}  // namespace

void disable_nagle_on_tcp_sockets() {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
        const std::string name = entry.path().filename().string();
        int fd = -1;
        const auto [end, parse_ec] = std::from_chars(name.data(), name.data() + name.size(), fd);
        if (parse_ec != std::errc() || end != name.data() + name.size() || !is_tcp_socket(fd)) {
            continue;
        }
        const int on = 1;
        if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0) {
            spdlog::debug("cannot set TCP_NODELAY on fd {}", fd);
        }
    }
}

mqtt::connect_options_builder base_connect_options(const config& cfg) {
    auto builder = mqtt::connect_options_builder()
                       .mqtt_version(MQTTVERSION_3_1_1)
                       .keep_alive_interval(std::chrono::seconds(10))
                       .connect_timeout(std::chrono::seconds(5));
    if (!cfg.username.empty()) builder.user_name(cfg.username);
    if (!cfg.password.empty()) builder.password(cfg.password);
    return builder;
}

bool wait_token(const mqtt::token_ptr& token, const std::atomic<bool>& stop,
                std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!stop.load()) {
        if (token->wait_for(poll_step)) return true;
        if (std::chrono::steady_clock::now() >= until) return false;
    }
    return false;
}

bool connect_with_backoff(mqtt::async_client& client, const mqtt::connect_options& options,
                          const std::atomic<bool>& stop, std::string_view what) {
    auto delay = std::chrono::milliseconds(1000);
    for (int attempt = 1; !stop.load(); ++attempt) {
        try {
            if (wait_token(client.connect(options), stop, std::chrono::seconds(10))) return true;
            if (stop.load()) return false;
            spdlog::warn("{}: connect attempt {} to {} timed out; retrying in {} ms", what, attempt,
                         client.get_server_uri(), delay.count());
        } catch (const mqtt::exception& e) {
            spdlog::warn("{}: connect attempt {} to {} failed: {}; retrying in {} ms", what,
                         attempt, client.get_server_uri(), e.what(), delay.count());
        }
        sleep_unless_stopped(delay, stop);
        delay = std::min(delay * 2, std::chrono::milliseconds(10'000));
    }
    return false;
}

}  // namespace presence::controller
