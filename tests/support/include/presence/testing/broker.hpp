#pragma once
// A real mosquitto process on a free loopback port, configured from one of the project's own
// config files, so tests exercise the configs that ship.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "presence/testing/process.hpp"
#include "presence/testing/temp_dir.hpp"

namespace presence::testing {

// The shipped config files live in <source>/mosquitto-conf; tests name them without extension.
std::filesystem::path source_dir();
std::filesystem::path config_path(std::string_view name);

// How a shipped config is adapted to one test: its own port, state directory and auth files.
struct config_rewrite {
    std::uint16_t port = 0;
    std::filesystem::path persistence_dir;
    std::filesystem::path password_file;  // required when the config has password_file
    std::filesystem::path acl_file;       // required when the config has acl_file
    std::filesystem::path plugin;         // required when the config has plugin
    std::filesystem::path jwt_key_file;   // required when the config has plugin_opt_jwt_key_file
    // Ports for the second, third... listener (websockets); a free port each when empty.
    std::vector<std::uint16_t> extra_ports;
};

// Rewrites a config's text: the first `listener` becomes `listener <port> 127.0.0.1`, later ones
// get the extra ports, paths are replaced (the plugin by the built one), `log_dest file` and
// `http_dir` lines are dropped, and (when run as root) `user root` is added so the broker can
// write the temp dir. Throws when the config needs a path that was not given.
std::string rewrite_config(std::string_view text, const config_rewrite& rewrite);

// Whether a shipped config loads the presence plugin (clients then need tokens).
bool config_uses_plugin(std::string_view name);

// The mosquitto_presence.so this test build made.
std::filesystem::path plugin_path();

// Creates a mosquitto password file with these (username, password) pairs.
void make_password_file(const std::filesystem::path& file,
                        const std::vector<std::pair<std::string, std::string>>& users);

// What a test broker runs with.
struct broker_options {
    std::string config = "dev-insecure";  // mosquitto-conf/<config>.conf
    std::filesystem::path password_file;
    std::filesystem::path acl_file;
    // Configs with the presence plugin always get the built plugin and the development key
    // (tokens.hpp), so test tokens work under every config.
};

// One mosquitto process with its own temp dir (config, persistence, log). Started by the
// constructor; the destructor stops it. restart() keeps port and persistence, as a real broker
// restart would.
class broker {
  public:
    explicit broker(broker_options options = {});
    ~broker();
    broker(const broker&) = delete;
    broker& operator=(const broker&) = delete;

    std::uint16_t port() const { return port_; }
    // tcp://127.0.0.1:<port>, the form Paho and the controller's --broker take.
    std::string uri() const;
    // The scratch directory of this broker, for password files and other test artefacts.
    const std::filesystem::path& dir() const { return dir_.path(); }
    const std::filesystem::path& log() const { return log_; }

    // Starts mosquitto and waits until the port accepts TCP; throws with the log tail if not.
    void start();
    // SIGTERM: a clean shutdown that saves the persistence file.
    void stop();
    // SIGKILL: a crash; changes since the last autosave are lost, no wills are sent.
    void kill9();
    // stop() then start() on the same port and state.
    void restart();
    bool running() const { return proc_ != nullptr; }
    // The mosquitto process id (-1 when stopped), for CPU measurements via /proc.
    int pid() const { return proc_ ? static_cast<int>(proc_->pid()) : -1; }

  private:
    broker_options options_;
    temp_dir dir_{"presence-broker"};
    std::uint16_t port_ = 0;
    std::filesystem::path conf_;
    std::filesystem::path log_;
    std::unique_ptr<process> proc_;
};

}  // namespace presence::testing
