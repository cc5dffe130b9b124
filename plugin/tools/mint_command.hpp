#pragma once
// The one token-minting command: its flags and its run, shared by presence-token (whose main is
// only this) and `presencectl token`, so both accept the same flags and mint the same tokens.

#include <CLI/CLI.hpp>
#include <iosfwd>
#include <string>

namespace presence::token {

// The command's flags. The caller sets the default validity before adding the options.
struct mint_options {
    std::string key_file;
    std::string user;
    std::string role = "app";
    std::string ttl = "1h";
};

// Adds --key-file, --sub (alias --user), --role and --ttl to `command`. --ttl takes seconds
// ("3600") or a duration ("90s", "1h", "24h").
void add_mint_options(CLI::App& command, mint_options& options);

// Mints the token and prints it with a newline on `out`. Returns 0, or 2 with a one-line reason
// on `err` (prefixed by `program`) when a flag or the key file is wrong, or 1 when signing fails.
int run_mint(const mint_options& options, std::ostream& out, std::ostream& err,
             std::string_view program);

}  // namespace presence::token
