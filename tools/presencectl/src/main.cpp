// presencectl: a command line for humans and scripts to look at and drive mqtt-presence.
#include <CLI/CLI.hpp>
#include <csignal>
#include <fstream>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "error.hpp"
#include "mqtt_client.hpp"
#include "presence/controller/duration.hpp"

namespace presence::ctl {

std::atomic<bool> stop_requested{false};

namespace {

extern "C" void on_signal(int) { stop_requested.store(true); }

constexpr const char* exit_codes_help = R"(
Exit codes:
  0  success (who: every user online; where: in at least one party; members: not empty)
  1  not found: a user is offline (who), in no party (where), or the party is empty (members)
  2  usage: bad flags or arguments (including ids the protocol refuses)
  3  broker or controller trouble: cannot connect, refused, connection lost, no reply in time

Examples:
  presencectl watch demo
  presencectl who alice bob --json
  presencectl members demo
  presencectl simulate --party demo --devices 8 --churn
  presencectl token --key-file secrets/jwt.key --user alice --ttl 1h)";

std::string read_secret(const std::string& file) {
    std::ifstream in(file);
    if (!in) throw failure(exit_usage, "cannot read " + file);
    std::stringstream text;
    text << in.rdbuf();
    std::string s = text.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

// "5s", "1500ms", "2m" into milliseconds, for CLI11.
std::function<std::string(std::string&)> duration_into(std::chrono::milliseconds& out) {
    return [&out](std::string& text) -> std::string {
        const auto d = presence::controller::parse_duration(text);
        if (!d) return "not a duration (use e.g. 500ms, 5s, 2m, 1h): " + text;
        out = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
        return {};
    };
}

}  // namespace

int main_impl(int argc, char** argv) {
    CLI::App app{
        "presencectl: watch parties, ask who is online, and simulate devices of "
        "mqtt-presence"};
    app.footer(exit_codes_help);
    app.require_subcommand(1);
    app.fallthrough();  // common flags may also come after the subcommand

    common_options common;
    std::string password;
    std::string password_file;
    std::string token_file;
    std::string timeout_text = "5s";
    app.add_option("--broker", common.broker, "Broker address, host:port or mqtt://host:port")
        ->capture_default_str();
    app.add_option("--username", common.username,
                   "User id to connect as (queries go to presence/query/<user>/<client-id>)")
        ->capture_default_str();
    app.add_option("--client-id", common.client_id, "Client id (default presencectl-<pid>)");
    auto* pw =
        app.add_option("--password", password, "MQTT password (visible in ps; prefer a file)");
    auto* pwf = app.add_option("--password-file", password_file, "File holding the password");
    auto* tf = app.add_option("--token-file", token_file, "File holding a JWT used as password");
    pw->excludes(pwf)->excludes(tf);
    pwf->excludes(tf);
    std::chrono::milliseconds timeout{5000};
    app.add_option("--timeout", timeout_text, "How long to wait for the broker and for replies")
        ->capture_default_str()
        ->check(CLI::Validator([&timeout](std::string& s) { return duration_into(timeout)(s); },
                               "DURATION"));
    app.add_flag("--json", common.json, "One JSON object per line, for scripts");

    watch_options watch;
    std::string watch_duration;
    auto* watch_cmd = app.add_subcommand("watch", "Print a party's snapshots and events live");
    watch_cmd->add_option("party", watch.party, "Party id")->required();
    watch_cmd->add_option("--count", watch.count, "Stop after this many messages (0: never)");
    std::chrono::milliseconds watch_for{0};
    watch_cmd->add_option("--for", watch_duration, "Stop after this long (e.g. 30s)")
        ->check(CLI::Validator([&watch_for](std::string& s) { return duration_into(watch_for)(s); },
                               "DURATION"));

    std::vector<std::string> who_users;
    auto* who_cmd = app.add_subcommand("who", "Presence of users: online, last seen, devices");
    who_cmd->add_option("user", who_users, "User ids (at most 100)")->required();

    std::string where_user;
    auto* where_cmd = app.add_subcommand("where", "The parties a user is in");
    where_cmd->add_option("user", where_user, "User id")->required();

    std::string members_party;
    auto* members_cmd = app.add_subcommand("members", "The members of a party");
    members_cmd->add_option("party", members_party, "Party id")->required();

    simulate_options sim;
    std::string sim_duration;
    std::string churn_text = "2s";
    std::chrono::milliseconds sim_for{0};
    auto* sim_cmd = app.add_subcommand("simulate", "Run N fake devices in a party, for demos");
    sim_cmd->add_option("--party", sim.party, "Party to join")->capture_default_str();
    sim_cmd->add_option("--devices", sim.devices, "How many devices (1-2000)")
        ->capture_default_str();
    sim_cmd->add_flag("--churn", sim.churn,
                      "Keep changing: leave/rejoin, airplane mode, profile updates");
    sim_cmd->add_option("--churn-interval", churn_text, "Time between two churn actions")
        ->capture_default_str()
        ->check(CLI::Validator(
            [&sim](std::string& s) { return duration_into(sim.churn_interval)(s); }, "DURATION"));
    sim_cmd->add_option("--prefix", sim.prefix, "User ids are <prefix>1..N")->capture_default_str();
    sim_cmd->add_option("--for", sim_duration, "Stop after this long (default: until Ctrl-C)")
        ->check(CLI::Validator([&sim_for](std::string& s) { return duration_into(sim_for)(s); },
                               "DURATION"));
    sim_cmd->add_option("--seed", sim.seed, "Random seed of the churn (0: random)");
    std::string sim_key_file;
    sim_cmd->add_option("--key-file", sim_key_file,
                        "JWT key: mint each device's own token (brokers with the plugin)");

    token_options tok;
    std::string ttl_text = "24h";
    std::chrono::milliseconds ttl{std::chrono::hours(24)};
    auto* token_cmd = app.add_subcommand("token", "Mint an access token (JWT) from the key file");
    token_cmd->add_option("--key-file", tok.key_file, "File holding the HS256 key")->required();
    token_cmd->add_option("--user", tok.user, "User id: the token's subject = MQTT username")
        ->required();
    token_cmd
        ->add_option("--role", tok.role, "app, controller or observer (read-only: operator tools)")
        ->capture_default_str();
    token_cmd->add_option("--ttl", ttl_text, "Validity (e.g. 1h, 24h)")
        ->capture_default_str()
        ->check(
            CLI::Validator([&ttl](std::string& s) { return duration_into(ttl)(s); }, "DURATION"));

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? exit_ok : exit_usage;
    }
    common.timeout = timeout;
    if (!password.empty()) common.password = password;
    if (!password_file.empty()) common.password = read_secret(password_file);
    if (!token_file.empty()) common.password = read_secret(token_file);

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    library lib;
    if (*watch_cmd) {
        if (!watch_duration.empty()) watch.duration = watch_for;
        return run_watch(common, watch);
    }
    if (*who_cmd) return run_who(common, who_users);
    if (*where_cmd) return run_where(common, where_user);
    if (*members_cmd) return run_members(common, members_party);
    if (*sim_cmd) {
        if (!sim_duration.empty()) sim.duration = sim_for;
        if (!sim_key_file.empty()) sim.key_file = sim_key_file;
        return run_simulate(common, sim);
    }
    if (*token_cmd) {
        tok.ttl = std::chrono::duration_cast<std::chrono::seconds>(ttl);
        return run_token(tok);
    }
    return exit_usage;
}

}  // namespace presence::ctl

int main(int argc, char** argv) {
    try {
        return presence::ctl::main_impl(argc, argv);
    } catch (const presence::ctl::failure& f) {
        std::cerr << "presencectl: " << f.what() << '\n';
        return f.code();
    } catch (const std::exception& e) {
        std::cerr << "presencectl: " << e.what() << '\n';
        return presence::ctl::exit_broker;
    }
}
