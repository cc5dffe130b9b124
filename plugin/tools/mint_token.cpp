// presence-token: prints a signed token (JWT HS256) that the mosquitto_presence plugin accepts
// as the MQTT password of `--sub`, for scripts, operators and tests. The command itself is
// mint_command.cpp, shared with `presencectl token`.

#include <CLI/CLI.hpp>
#include <iostream>

#include "mint_command.hpp"

int main(int argc, char** argv) {
    CLI::App app{"Mint an mqtt-presence access token (JWT HS256)"};
    presence::token::mint_options options;
    options.ttl = "3600";
    presence::token::add_mint_options(app, options);
    CLI11_PARSE(app, argc, argv);
    return presence::token::run_mint(options, std::cout, std::cerr, "presence-token");
}
