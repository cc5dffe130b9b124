#include "presence/core/types.hpp"
namespace presence::core {
const char* to_string(outcome o) {
    switch (o) {
        case outcome::applied:
            return "applied";
        case outcome::duplicate:
            return "duplicate";
        case outcome::stale:
            return "stale";
        case outcome::unknown:
            return "unknown";
    }
    return "?";
}
const char* to_string(event_kind k) {
    switch (k) {
        case event_kind::joined:
            return "joined";
        case event_kind::left:
            return "left";
        case event_kind::reconnecting:
            return "reconnecting";
        case event_kind::back:
            return "back";
        case event_kind::updated:
            return "updated";
    }
    return "?";
}
const char* to_string(leave_reason r) {
    switch (r) {
        case leave_reason::explicit_leave:
            return "explicit";
        case leave_reason::timeout:
            return "timeout";
        case leave_reason::sign_out:
            return "sign_out";
    }
    return "?";
}
const char* to_string(connection_end e) {
    switch (e) {
        case connection_end::unspecified:
            return "unspecified";
        case connection_end::lost:
            return "lost";
        case connection_end::taken_over:
            return "taken_over";
        case connection_end::kicked:
            return "kicked";
    }
    return "?";
}
}  // namespace presence::core
