#pragma once
// Exit codes of presencectl and the error that carries one up to main().

#include <stdexcept>
#include <string>

namespace presence::ctl {

// Exit codes, documented in `presencectl --help` and docs/operations.md; scripts rely on them.
enum exit_code : int {
    exit_ok = 0,
    exit_not_found = 1,  // the user is offline / in no party / the party has no members
    exit_usage = 2,      // bad flags or arguments
    exit_broker = 3,     // cannot connect, refused, lost connection, timeout, bad reply
};

// A failure that ends the command with a specific exit code and a one-line message.
class failure : public std::runtime_error {
  public:
    failure(exit_code code, const std::string& what) : std::runtime_error(what), code_(code) {}
    exit_code code() const { return code_; }

  private:
    exit_code code_;
};

}  // namespace presence::ctl
