#include "presence/controller/config.hpp"

#include <CLI/CLI.hpp>
#include <charconv>
#include <fstream>

#include "presence/common/duration.hpp"

#ifndef PRESENCE_VERSION
#define PRESENCE_VERSION "unknown"
#endif

namespace presence::controller {

namespace {

using common::parse_duration;

constexpr std::string_view duration_forms = "use a number with a unit: 120s, 2m, 1500ms, 1h, 1m30s";

// MQTT's own limit on a packet's remaining length bounds any payload the broker can deliver.
constexpr std::size_t max_mqtt_payload = 268'435'455;

CLI::Validator duration_validator() {
    return CLI::Validator(
        [](std::string& value) {
            if (parse_duration(value)) return std::string();
            return "invalid duration \"" + value + "\" (" + std::string(duration_forms) + ")";
        },
        "");
}

std::optional<std::size_t> parse_bytes(std::string_view text) {
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value == 0 ||
        value > max_mqtt_payload) {
        return std::nullopt;
    }
    return value;
}

CLI::Validator bytes_validator() {
    return CLI::Validator(
        [](std::string& value) {
            if (parse_bytes(value)) return std::string();
            return "invalid byte count \"" + value + "\" (use a whole number from 1 to " +
                   std::to_string(max_mqtt_payload) + ", e.g. 16384)";
        },
        "");
}

CLI::Validator listen_validator() {
    return CLI::Validator(
        [](std::string& value) {
            if (parse_listen_address(value)) return std::string();
            return "invalid listen address \"" + value +
                   "\" (use HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:9102 or "
                   "[::1]:9102, or off)";
        },
        "");
}

void add_duration(CLI::App& app, const std::string& name, core::duration& target,
                  const std::string& default_text, const std::string& help) {
    app.add_option_function<std::string>(
           name, [&target](const std::string& v) { target = *parse_duration(v); }, help)
        ->check(duration_validator())
        ->type_name("DURATION")
        ->default_str(default_text);
}

// Reads the first line of the password file; a missing or unreadable file is a usage error.
std::optional<std::string> read_password_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::string line;
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

parse_result usage_error(const std::string& what) {
    parse_result r;
    r.exit = true;
    r.exit_code = 2;
    r.message = "error: " + what + "\nRun with --help for more information.";
    return r;
}

}  // namespace

std::optional<listen_address> parse_listen_address(std::string_view text) {
    if (text == "off") return listen_address{false, {}, 0};
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    std::string_view host = text.substr(0, colon);
    const std::string_view port_text = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    } else if (host.find(':') != std::string_view::npos) {
        return std::nullopt;  // an IPv6 address needs brackets
    }
    if (host.empty() || host.find_first_of(" []/") != std::string_view::npos) return std::nullopt;
    unsigned port = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
        return std::nullopt;
    }
    return listen_address{true, std::string(host), static_cast<std::uint16_t>(port)};
}

parse_result parse_args(int argc, const char* const* argv) {
    parse_result result;
    config& cfg = result.cfg;

    CLI::App app("presence-controller: keeps party presence and publishes it over MQTT.",
                 "presence-controller");
    app.set_version_flag("--version", std::string("presence-controller ") + PRESENCE_VERSION);
    app.set_config("--config", "", "Read options from an INI/TOML file (same long names as keys)");
    app.option_defaults()->always_capture_default();

    app.add_option("--broker", cfg.broker, "Broker URI (tcp://host:port or ssl://host:port)");
    app.add_option("--client-id", cfg.client_id,
                   "Fixed MQTT client id of the controller's persistent session");
    app.add_option("--username", cfg.username, "MQTT username (empty: anonymous)");
    app.add_option("--password", cfg.password, "MQTT password")
        ->envname("PRESENCE_PASSWORD")
        ->default_str("");
    app.add_option("--password-file", cfg.password_file,
                   "Read the MQTT password from the first line of this file (wins over "
                   "--password and PRESENCE_PASSWORD)");
    add_duration(app, "--grace", cfg.grace, "2m",
                 "How long a member with no live device stays listed as reconnecting");
    app.add_option("--log-level", cfg.log_level, "Log level")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
        ->type_name("LEVEL");
    app.add_option_function<std::string>(
           "--max-payload",
           [&cfg](const std::string& v) { cfg.max_payload_bytes = *parse_bytes(v); },
           "Largest accepted inbound payload in bytes")
        ->check(bytes_validator())
        ->type_name("BYTES")
        ->default_str(std::to_string(cfg.max_payload_bytes));
    add_duration(app, "--restore-timeout", cfg.restore_timeout, "10s",
                 "How long to wait for retained state at start");
    add_duration(app, "--stats-interval", cfg.stats_interval, "10s",
                 "How often to publish presence/controller/stats (0s disables)");
    add_duration(app, "--snapshot-interval", cfg.snapshot_interval, "100ms",
                 "Parties above --coalesce-above members publish their snapshot at most this "
                 "often; events are never delayed (0s: every change publishes the snapshot)");
    app.add_option("--coalesce-above", cfg.coalesce_above,
                   "Member count above which a party's snapshots are coalesced")
        ->type_name("MEMBERS");

    app.add_option("--output-qos", cfg.output_qos,
                   "QoS of published snapshots, events and user records: 1 (resent after a "
                   "reconnect) or 0 (cheaper; see docs/operations.md)")
        ->check(CLI::IsMember({0, 1}))
        ->type_name("0|1");
    app.add_option_function<std::string>(
           "--json-twins",
           [&cfg](const std::string& v) { cfg.json_twins = v == "on"; },
           "Publish the JSON twin <topic>/json of every snapshot, event and user record")
        ->check(CLI::IsMember({"on", "off"}))
        ->type_name("on|off")
        ->default_str("on");
    app.add_option("--max-pending-publishes", cfg.max_pending_publishes,
                   "Stop taking input while this many publishes wait for the broker; resume at "
                   "half (backpressure, see docs/operations.md)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{100'000'000}))
        ->type_name("PUBLISHES");
    app.add_option_function<std::string>(
           "--max-pending-bytes",
           [&cfg](const std::string& v) { cfg.max_pending_bytes = *parse_bytes(v); },
           "Stop taking input while this many bytes of publishes wait for the broker; resume at "
           "half")
        ->check(bytes_validator())
        ->type_name("BYTES")
        ->default_str(std::to_string(cfg.max_pending_bytes));
    app.add_option_function<std::string>(
           "--http-listen",
           [&cfg](const std::string& v) {
               const auto address = *parse_listen_address(v);
               cfg.http_enabled = address.enabled;
               cfg.http_host = address.host;
               cfg.http_port = address.port;
           },
           "Serve GET /metrics (Prometheus) and GET /healthz on HOST:PORT; off disables")
        ->check(listen_validator())
        ->type_name("HOST:PORT|off")
        ->default_str("127.0.0.1:9102");

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        result.exit = true;
        result.message = app.help();
        return result;
    } catch (const CLI::CallForAllHelp&) {
        result.exit = true;
        result.message = app.help("", CLI::AppFormatMode::All);
        return result;
    } catch (const CLI::CallForVersion& e) {
        result.exit = true;
        result.message = e.what();
        return result;
    } catch (const CLI::FileError& e) {
        return usage_error(std::string("--config: ") + e.what());
    } catch (const CLI::ParseError& e) {
        return usage_error(e.what());
    }

    if (!cfg.password_file.empty()) {
        auto password = read_password_file(cfg.password_file);
        if (!password) {
            return usage_error("--password-file: cannot read \"" + cfg.password_file + "\"");
        }
        cfg.password = std::move(*password);
    }
    return result;
}

}  // namespace presence::controller
