#pragma once
// The identifier rule of protocol v1, header-only and dependency-free, so the controller's wire
// layer and the broker plugin (which links no presence library beyond its own) share one copy.

#include <string_view>

namespace presence::wire {

// 1-64 characters of [A-Za-z0-9._-]: user, device and party ids.
inline bool valid_identifier(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    for (const char c : id) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

}  // namespace presence::wire
