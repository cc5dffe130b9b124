#pragma once
// A child process with its output in a log file: the building block of the broker and
// controller fixtures.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace presence::testing {

// One spawned program. It dies with the test process (PR_SET_PDEATHSIG), so a crashed or killed
// test run never leaves brokers behind; the destructor sends SIGTERM and reaps it.
class process {
  public:
    // Starts argv[0] (an absolute path) with stdout and stderr appended to `log`.
    process(std::vector<std::string> argv, std::filesystem::path log);
    ~process();
    process(const process&) = delete;
    process& operator=(const process&) = delete;

    // Whether the child has not exited yet (reaps it if it has).
    bool running();
    // SIGTERM, then SIGKILL after `grace`; returns the exit code (128 + signal when killed).
    int stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
    // SIGKILL and reap: a crash, with no chance to clean up.
    void kill9();
    // The exit code once the child has exited, 128 + signal for a signal death.
    std::optional<int> exit_code() const { return exit_code_; }
    pid_t pid() const { return pid_; }
    const std::filesystem::path& log() const { return log_; }

  private:
    void reap(int status);

    pid_t pid_ = -1;
    std::filesystem::path log_;
    std::optional<int> exit_code_;
};

// Runs a program to completion (output to `log`) and returns its exit code; for tools like
// mosquitto_passwd.
int run_to_completion(std::vector<std::string> argv, const std::filesystem::path& log);

}  // namespace presence::testing
