#pragma once
// Parses presence-controller flags from a list of strings, as main() would get them, so the
// config tests of every flag group share one way of building argv.

#include <initializer_list>
#include <string>
#include <vector>

#include "presence/controller/config.hpp"

namespace presence::testing {

// The result of parse_args for `presence-controller <args...>`.
inline controller::parse_result parse_controller_args(std::initializer_list<std::string> args) {
    std::vector<std::string> storage{"presence-controller"};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<const char*> argv;
    for (const auto& s : storage) argv.push_back(s.c_str());
    return controller::parse_args(static_cast<int>(argv.size()), argv.data());
}

}  // namespace presence::testing
