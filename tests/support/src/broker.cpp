#include "presence/testing/broker.hpp"

#include "presence/testing/tokens.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace presence::testing {

namespace {

std::string read_file(const std::filesystem::path& file) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error("cannot read " + file.string());
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// The first word of a config line, or empty for blank lines and comments.
std::string_view directive(std::string_view line) {
    const auto start = line.find_first_not_of(" \t");
    if (start == std::string_view::npos || line[start] == '#') return {};
    line.remove_prefix(start);
    return line.substr(0, line.find_first_of(" \t"));
}

std::string require(const std::filesystem::path& path, std::string_view what) {
    if (path.empty()) {
        throw std::invalid_argument("the config has " + std::string(what) +
                                    " but no replacement path was given");
    }
    return std::filesystem::absolute(path).string();
}

}  // namespace

std::filesystem::path source_dir() { return PRESENCE_SOURCE_DIR; }

std::filesystem::path config_path(std::string_view name) {
    return source_dir() / "mosquitto-conf" / (std::string(name) + ".conf");
}

std::filesystem::path plugin_path() { return PRESENCE_PLUGIN_PATH; }

bool config_uses_plugin(std::string_view name) {
    std::istringstream in{read_file(config_path(name))};
    for (std::string line; std::getline(in, line);) {
        if (directive(line) == "plugin") return true;
    }
    return false;
}

std::string rewrite_config(std::string_view text, const config_rewrite& rewrite) {
    std::string out;
    bool has_persistence_location = false;
    std::size_t listeners = 0;
    std::istringstream in{std::string(text)};
    for (std::string line; std::getline(in, line);) {
        const std::string_view word = directive(line);
        if (word == "listener") {
            std::uint16_t port = rewrite.port;
            if (listeners > 0) {
                port = listeners - 1 < rewrite.extra_ports.size()
                           ? rewrite.extra_ports[listeners - 1]
                           : free_port();
            }
            ++listeners;
            line = "listener " + std::to_string(port) + " 127.0.0.1";
        } else if (word == "plugin") {
            line = "plugin " + require(rewrite.plugin, "plugin");
        } else if (word == "plugin_opt_jwt_key_file") {
            line = "plugin_opt_jwt_key_file " +
                   require(rewrite.jwt_key_file, "plugin_opt_jwt_key_file");
        } else if (word == "http_dir") {
            continue;
        } else if (word == "persistence_location") {
            line = "persistence_location " + rewrite.persistence_dir.string() + "/";
            has_persistence_location = true;
        } else if (word == "password_file") {
            line = "password_file " + require(rewrite.password_file, "password_file");
        } else if (word == "acl_file") {
            line = "acl_file " + require(rewrite.acl_file, "acl_file");
        } else if (word == "log_dest" && line.find("file") != std::string::npos) {
            continue;
        } else if (word == "user") {
            continue;
        }
        out += line;
        out += '\n';
    }
    if (!has_persistence_location) {
        out += "persistence_location " + rewrite.persistence_dir.string() + "/\n";
    }
    // As root mosquitto drops to the `mosquitto` user, which cannot write the test's temp dir.
    if (::geteuid() == 0) out += "user root\n";
    return out;
}

void make_password_file(const std::filesystem::path& file,
                        const std::vector<std::pair<std::string, std::string>>& users) {
    const auto log = std::filesystem::path(file).concat(".log");
    bool first = true;
    for (const auto& [user, password] : users) {
        std::vector<std::string> argv{"/usr/bin/mosquitto_passwd", "-b"};
        if (first) argv.emplace_back("-c");
        argv.insert(argv.end(), {file.string(), user, password});
        if (run_to_completion(argv, log) != 0) {
            throw std::runtime_error("mosquitto_passwd failed for " + user + ":\n" +
                                     file_tail(log));
        }
        first = false;
    }
}

broker::broker(broker_options options) : options_(std::move(options)), port_(free_port()) {
    const auto state = dir_.path() / "persistence";
    std::filesystem::create_directories(state);
    conf_ = dir_.path() / "mosquitto.conf";
    log_ = dir_.path() / "mosquitto.log";
    const config_rewrite rewrite{port_,
                                 state,
                                 options_.password_file,
                                 options_.acl_file,
                                 plugin_path(),
                                 dev_jwt_key_file(),
                                 {}};
    std::ofstream(conf_) << rewrite_config(read_file(config_path(options_.config)), rewrite);
    start();
}

broker::~broker() { stop(); }

std::string broker::uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

void broker::start() {
    if (proc_) return;
    std::vector<std::string> argv{"/usr/sbin/mosquitto", "-c", conf_.string()};
#ifdef PRESENCE_SANITIZER_PRELOAD
    // A sanitizer build's plugin needs the sanitizer runtimes loaded into mosquitto first.
    argv.insert(argv.begin(), {"/usr/bin/env", "LD_PRELOAD=" PRESENCE_SANITIZER_PRELOAD,
                               "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1"});
#endif
    proc_ = std::make_unique<process>(std::move(argv), log_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!port_accepts(port_)) {
        if (!proc_->running() || std::chrono::steady_clock::now() >= deadline) {
            proc_->kill9();
            proc_.reset();
            dir_.keep();
            throw std::runtime_error("mosquitto (" + options_.config +
                                     ") did not come up on port " + std::to_string(port_) +
                                     "; log " + log_.string() + ":\n" + file_tail(log_));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

void broker::stop() {
    if (!proc_) return;
    proc_->stop();
    proc_.reset();
}

void broker::kill9() {
    if (!proc_) return;
    proc_->kill9();
    proc_.reset();
}

void broker::restart() {
    stop();
    start();
}

}  // namespace presence::testing
