#include "presence/testing/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace presence::testing {

process::process(std::vector<std::string> argv, std::filesystem::path log) : log_(std::move(log)) {
    if (argv.empty()) throw std::invalid_argument("process: empty argv");
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    const std::string log_path = log_.string();
    const pid_t parent = ::getpid();

    // Only async-signal-safe calls between fork and exec: the test process has Paho threads.
    pid_ = ::fork();
    if (pid_ < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid_ == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);
        const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ::dup2(fd, STDOUT_FILENO);
            ::dup2(fd, STDERR_FILENO);
        }
        const int null_fd = ::open("/dev/null", O_RDONLY);
        if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
}

process::~process() {
    if (pid_ > 0 && !exit_code_) stop();
}

void process::reap(int status) {
    if (WIFEXITED(status)) {
        exit_code_ = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        exit_code_ = 128 + WTERMSIG(status);
    } else {
        exit_code_ = -1;
    }
}

bool process::running() {
    if (exit_code_) return false;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
        reap(status);
        return false;
    }
    return r == 0;
}

int process::stop(std::chrono::milliseconds grace) {
    if (exit_code_) return *exit_code_;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (running()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            kill9();
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return exit_code_.value_or(-1);
}

void process::kill9() {
    if (exit_code_) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reap(status);
}

int run_to_completion(std::vector<std::string> argv, const std::filesystem::path& log) {
    process p(std::move(argv), log);
    while (p.running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return p.exit_code().value_or(-1);
}

}  // namespace presence::testing
