#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "controller_args.hpp"
#include "presence/controller/config.hpp"

using presence::controller::parse_args;
using presence::controller::parse_result;
using namespace std::chrono_literals;

namespace {

parse_result parse(std::initializer_list<std::string> args) {
    return presence::testing::parse_controller_args(args);
}

// A file in the temp directory that is removed when the test ends.
class temp_file {
  public:
    temp_file(const std::string& name, const std::string& content)
        : path_(std::filesystem::temp_directory_path() /
                ("presence-test-" + std::to_string(::getpid()) + "-" + name)) {
        std::ofstream(path_) << content;
    }
    ~temp_file() { std::filesystem::remove(path_); }
    temp_file(const temp_file&) = delete;
    temp_file& operator=(const temp_file&) = delete;
    std::string path() const { return path_.string(); }

  private:
    std::filesystem::path path_;
};

void check_usage_error(const parse_result& r, const std::string& flag, const std::string& value) {
    CHECK(r.exit);
    CHECK(r.exit_code == 2);
    CHECK(r.message.find(flag) != std::string::npos);
    CHECK(r.message.find(value) != std::string::npos);
}

}  // namespace

TEST_CASE("parse_args_gives_documented_defaults") {
    ::unsetenv("PRESENCE_PASSWORD");
    const auto r = parse({});
    REQUIRE_FALSE(r.exit);
    CHECK(r.cfg.broker == "tcp://127.0.0.1:1883");
    CHECK(r.cfg.client_id == "presence-controller");
    CHECK(r.cfg.username.empty());
    CHECK(r.cfg.password.empty());
    CHECK(r.cfg.grace == 2min);
    CHECK(r.cfg.log_level == "info");
    CHECK(r.cfg.max_payload_bytes == 16 * 1024);
    CHECK(r.cfg.restore_timeout == 10s);
    CHECK(r.cfg.stats_interval == 10s);
    CHECK(r.cfg.output_qos == 1);
    CHECK(r.cfg.json_twins);
}

TEST_CASE("parse_args_reads_the_output_options_and_rejects_other_values") {
    const auto r = parse({"--output-qos", "0", "--json-twins", "off"});
    REQUIRE_FALSE(r.exit);
    CHECK(r.cfg.output_qos == 0);
    CHECK_FALSE(r.cfg.json_twins);
    CHECK(parse({"--json-twins", "on"}).cfg.json_twins);
    for (const std::string value : {"2", "-1", "one"}) {
        CAPTURE(value);
        check_usage_error(parse({"--output-qos", value}), "--output-qos", value);
    }
    check_usage_error(parse({"--json-twins", "no"}), "--json-twins", "no");
}

TEST_CASE("parse_args_reads_every_flag") {
    ::unsetenv("PRESENCE_PASSWORD");
    const auto r = parse({"--broker", "tcp://10.0.0.1:18830", "--client-id", "ctl-2", "--username",
                          "presence-controller", "--password", "secret", "--grace", "1m30s",
                          "--log-level", "debug", "--max-payload", "4096", "--restore-timeout",
                          "1500ms", "--stats-interval", "0s"});
    REQUIRE_FALSE(r.exit);
    CHECK(r.cfg.broker == "tcp://10.0.0.1:18830");
    CHECK(r.cfg.client_id == "ctl-2");
    CHECK(r.cfg.username == "presence-controller");
    CHECK(r.cfg.password == "secret");
    CHECK(r.cfg.grace == 90s);
    CHECK(r.cfg.log_level == "debug");
    CHECK(r.cfg.max_payload_bytes == 4096);
    CHECK(r.cfg.restore_timeout == 1500ms);
    CHECK(r.cfg.stats_interval == 0s);
}

TEST_CASE("parse_args_rejects_bad_durations_naming_flag_value_and_forms") {
    for (const std::string flag : {"--grace", "--restore-timeout", "--stats-interval"}) {
        for (const std::string value : {"120", "-5s", "5d", "soon", "99999999999999999999h"}) {
            CAPTURE(flag);
            CAPTURE(value);
            const auto r = parse({flag, value});
            check_usage_error(r, flag, value);
            CHECK(r.message.find("1m30s") != std::string::npos);
        }
    }
}

TEST_CASE("parse_args_rejects_an_empty_duration") {
    const auto r = parse({"--grace="});
    CHECK(r.exit);
    CHECK(r.exit_code == 2);
    CHECK(r.message.find("--grace") != std::string::npos);
}

TEST_CASE("parse_args_rejects_bad_log_levels_and_payload_sizes") {
    check_usage_error(parse({"--log-level", "verbose"}), "--log-level", "verbose");
    for (const std::string value : {"0", "-1", "lots", "16k", "999999999999"}) {
        CAPTURE(value);
        check_usage_error(parse({"--max-payload", value}), "--max-payload", value);
    }
}

TEST_CASE("parse_args_rejects_unknown_flags_with_exit_code_2") {
    const auto r = parse({"--frobnicate"});
    CHECK(r.exit);
    CHECK(r.exit_code == 2);
    CHECK(r.message.find("--frobnicate") != std::string::npos);
}

TEST_CASE("parse_args_help_and_version_exit_0_with_text") {
    const auto help = parse({"--help"});
    CHECK(help.exit);
    CHECK(help.exit_code == 0);
    CHECK(help.message.find("--grace") != std::string::npos);
    CHECK(help.message.find("--stats-interval") != std::string::npos);

    const auto version = parse({"--version"});
    CHECK(version.exit);
    CHECK(version.exit_code == 0);
    CHECK(version.message.find("presence-controller") != std::string::npos);
}

TEST_CASE("parse_args_reads_the_config_file_and_flags_win") {
    ::unsetenv("PRESENCE_PASSWORD");
    const temp_file file("controller.ini",
                         "broker = tcp://broker.example:1883\n"
                         "client-id = from-file\n"
                         "grace = 45s\n"
                         "log-level = warn\n"
                         "max-payload = 2048\n"
                         "stats-interval = 1m\n");
    const auto r = parse({"--config", file.path(), "--grace", "3s"});
    REQUIRE_FALSE(r.exit);
    CHECK(r.cfg.broker == "tcp://broker.example:1883");
    CHECK(r.cfg.client_id == "from-file");
    CHECK(r.cfg.grace == 3s);
    CHECK(r.cfg.log_level == "warn");
    CHECK(r.cfg.max_payload_bytes == 2048);
    CHECK(r.cfg.stats_interval == 1min);
}

TEST_CASE("parse_args_reads_a_toml_config_file") {
    const temp_file file("controller.toml",
                         "broker = \"tcp://toml.example:1883\"\n"
                         "grace = \"10s\"\n");
    const auto r = parse({"--config", file.path()});
    REQUIRE_FALSE(r.exit);
    CHECK(r.cfg.broker == "tcp://toml.example:1883");
    CHECK(r.cfg.grace == 10s);
}

TEST_CASE("parse_args_rejects_a_bad_value_in_the_config_file") {
    const temp_file file("bad.ini", "grace = 120\n");
    check_usage_error(parse({"--config", file.path()}), "--grace", "120");
}

TEST_CASE("parse_args_rejects_a_missing_config_file") {
    const auto r = parse({"--config", "/nonexistent/presence-controller.ini"});
    CHECK(r.exit);
    CHECK(r.exit_code == 2);
    CHECK(r.message.find("/nonexistent/presence-controller.ini") != std::string::npos);
}

TEST_CASE("parse_args_takes_the_password_from_env_and_file") {
    ::setenv("PRESENCE_PASSWORD", "from-env", 1);
    CHECK(parse({}).cfg.password == "from-env");
    CHECK(parse({"--password", "from-flag"}).cfg.password == "from-flag");

    const temp_file file("secret", "from-file\nsecond line ignored\n");
    const auto r = parse({"--password-file", file.path()});
    REQUIRE_FALSE(r.exit);
    CHECK(r.cfg.password == "from-file");
    ::unsetenv("PRESENCE_PASSWORD");

    check_usage_error(parse({"--password-file", "/nonexistent/secret"}), "--password-file",
                      "/nonexistent/secret");
}
