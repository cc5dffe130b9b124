#include "presence/testing/controller_process.hpp"

#include <algorithm>
#include <iostream>
#include <stdexcept>

#include "presence/testing/observer.hpp"
#include "presence/testing/temp_dir.hpp"
#include "presence/wire/topics.hpp"

namespace presence::testing {

namespace {

constexpr std::string_view status_topic = wire::controller_status_topic;

// A probe subscriber with the controller's own credentials, which may read the status topic
// under any shipped config (the hardened ACL grants the controller account all of presence/#).
std::unique_ptr<observer> status_probe(const controller_options& o) {
    observer_options probe;
    probe.client_id = o.client_id + "-probe";
    probe.username = o.username;
    probe.password = o.password;
    probe.sync_topic = false;
    return std::make_unique<observer>(o.broker_uri,
                                      std::vector<std::string>{std::string(status_topic)}, probe);
}

std::string last_status(const observer& probe) {
    const auto ms = probe.messages_on(status_topic);
    return ms.empty() ? std::string() : ms.back().payload;
}

}  // namespace

std::filesystem::path controller_binary() { return PRESENCE_CONTROLLER_BIN; }

controller_process::controller_process(controller_options options, std::filesystem::path log_dir)
    : options_(std::move(options)), log_(std::move(log_dir) / "controller.log") {
    if (options_.binary.empty()) options_.binary = controller_binary();
    const bool in_extra_args = std::find(options_.extra_args.begin(), options_.extra_args.end(),
                                         "--http-listen") != options_.extra_args.end();
    if (options_.http_listen.empty() && !in_extra_args) {
        http_port_ = free_port();
        options_.http_listen = "127.0.0.1:" + std::to_string(http_port_);
    } else if (options_.http_listen != "off" && !in_extra_args) {
        const auto colon = options_.http_listen.rfind(':');
        http_port_ = static_cast<std::uint16_t>(std::stoi(options_.http_listen.substr(colon + 1)));
    }
}

controller_process::~controller_process() {
    if (proc_) stop();
    if (failed_) {
        std::cerr << "---- controller log tail (" << log_.string() << ") ----\n"
                  << log_tail() << "----\n";
    }
}

void controller_process::start() {
    if (proc_ && proc_->running()) throw std::logic_error("controller already running");
    std::vector<std::string> argv{
        options_.binary.string(), "--broker",    options_.broker_uri, "--client-id",
        options_.client_id,       "--grace",     options_.grace,      "--stats-interval",
        options_.stats_interval,  "--log-level", options_.log_level};
    if (!options_.username.empty()) argv.insert(argv.end(), {"--username", options_.username});
    if (!options_.password.empty()) argv.insert(argv.end(), {"--password", options_.password});
    if (!options_.http_listen.empty()) {
        argv.insert(argv.end(), {"--http-listen", options_.http_listen});
    }
    argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
    proc_ = std::make_unique<process>(std::move(argv), log_);
}

void controller_process::wait_ready(std::chrono::milliseconds timeout) {
    if (!proc_) throw std::logic_error("controller not started");
    const auto probe = status_probe(options_);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!proc_->running()) {
            failed_ = true;
            throw std::runtime_error("presence-controller exited with code " +
                                     std::to_string(proc_->exit_code().value_or(-1)) +
                                     " before it was ready; log:\n" + log_tail());
        }
        if (probe->wait_until(
                [](const std::vector<received>& ms) {
                    return !ms.empty() && ms.back().payload == "online";
                },
                std::chrono::milliseconds(50))) {
            return;
        }
    }
    failed_ = true;
    throw std::runtime_error("presence-controller did not publish \"online\" on " +
                             std::string(status_topic) + " (last: \"" + last_status(*probe) +
                             "\"); log:\n" + log_tail());
}

void controller_process::kill9() {
    if (!proc_) return;
    proc_->kill9();
    proc_.reset();
    wait_status_not_online(std::chrono::seconds(20));
}

int controller_process::stop() {
    if (!proc_) return 0;
    const int code = proc_->stop();
    proc_.reset();
    if (code != 0) failed_ = true;
    return code;
}

bool controller_process::running() { return proc_ && proc_->running(); }

std::string controller_process::log_tail(std::size_t lines) const { return file_tail(log_, lines); }

void controller_process::wait_status_not_online(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        // A fresh subscription each round: the retained value is what the next run would see.
        const auto probe = status_probe(options_);
        if (probe->wait_until(
                [](const std::vector<received>& ms) {
                    return !ms.empty() && ms.back().payload != "online";
                },
                std::chrono::milliseconds(200))) {
            return;
        }
    }
    failed_ = true;
    throw std::runtime_error(
        "after kill -9 the broker never published the controller's \"offline\" Last Will");
}

}  // namespace presence::testing
