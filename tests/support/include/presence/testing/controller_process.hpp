#pragma once
// The real presence-controller binary as a child process, so integration tests exercise exactly
// what ships, including crash (kill -9) and restart.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "presence/testing/process.hpp"

namespace presence::testing {

// Flags of one controller run; short grace and stats intervals keep tests fast.
struct controller_options {
    std::string broker_uri;
    std::string client_id = "presence-controller";
    std::string username;
    std::string password;
    std::string grace = "2s";
    std::string stats_interval = "1s";
    std::string log_level = "debug";
    // --http-listen: empty picks 127.0.0.1:<a free port> (kept across restarts), so parallel
    // tests never share the default port; "off" disables the endpoints.
    std::string http_listen;
    std::vector<std::string> extra_args;
    std::filesystem::path binary;  // empty: the one CMake built (PRESENCE_CONTROLLER_BIN)
};

// The path of the controller binary this harness was built with.
std::filesystem::path controller_binary();

// One controller process logging to <log_dir>/controller.log (runs append). start() is explicit
// so tests can restart it; the destructor stops it and, when it had failed, prints its log tail.
class controller_process {
  public:
    controller_process(controller_options options, std::filesystem::path log_dir);
    ~controller_process();
    controller_process(const controller_process&) = delete;
    controller_process& operator=(const controller_process&) = delete;

    // Spawns the binary with the options as flags.
    void start();
    // Waits until a fresh subscriber sees "online" on presence/controller/status, published by
    // this run; throws with the log tail on timeout or when the process exited.
    void wait_ready(std::chrono::milliseconds timeout = std::chrono::seconds(20));
    // start() + wait_ready().
    void start_ready() {
        start();
        wait_ready();
    }
    // SIGKILL, then waits until the broker has published the controller's "offline" Last Will,
    // so a later wait_ready() cannot mistake the dead run's retained "online" for the new one.
    void kill9();
    // SIGTERM and reap; returns the exit code.
    int stop();
    bool running();
    // The last lines of the controller's log, for failure messages.
    std::string log_tail(std::size_t lines = 60) const;
    const std::filesystem::path& log() const { return log_; }
    // The port of /metrics and /healthz (0 when disabled or set through extra_args).
    std::uint16_t http_port() const { return http_port_; }

  private:
    void wait_status_not_online(std::chrono::milliseconds timeout);

    controller_options options_;
    std::filesystem::path log_;
    std::unique_ptr<process> proc_;
    bool failed_ = false;
    std::uint16_t http_port_ = 0;
};

}  // namespace presence::testing
