#include "presence/plugin/rules.hpp"

#include <array>
#include <cstddef>

namespace presence::plugin {

namespace {

// The first levels of a topic, without allocating. Levels past the array are counted but not
// kept: no rule looks deeper than five levels.
struct levels {
    static constexpr std::size_t kept = 6;
    std::array<std::string_view, kept> at{};
    std::size_t count = 0;

    explicit levels(std::string_view topic) {
        std::size_t start = 0;
        while (true) {
            const std::size_t slash = topic.find('/', start);
            const std::string_view level = topic.substr(
                start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
            if (count < kept) at[count] = level;
            ++count;
            if (slash == std::string_view::npos) break;
            start = slash + 1;
        }
    }
};

// A party id level: a concrete identifier, or `+` where a filter is judged.
bool party_level(std::string_view level, bool filter) {
    return valid_identifier(level) || (filter && level == "+");
}

// Topics (or filters) that every app may read: the controller's public outputs. The controller's
// private state (presence/controller/state/...) and stats are not among them: only the
// controller role reads and writes those.
bool public_output(const levels& t, bool filter) {
    if (t.count >= 3 && t.count <= 4 && t.at[0] == "party" && party_level(t.at[1], filter) &&
        (t.at[2] == "members" || t.at[2] == "events")) {
        return t.count == 3 || t.at[3] == "json";
    }
    if (t.count >= 3 && t.count <= 4 && t.at[0] == "presence" && t.at[1] == "user" &&
        party_level(t.at[2], filter)) {
        return t.count == 3 || t.at[3] == "json";
    }
    return t.count == 3 && t.at[0] == "presence" && t.at[1] == "controller" && t.at[2] == "status";
}

// presence/reply/<user>/<device> and anything below it: the app's own query replies.
bool own_replies(const identity& who, const levels& t) {
    if (t.count < 4 || t.at[0] != "presence" || t.at[1] != "reply" || t.at[2] != who.user ||
        t.at[3] != who.device) {
        return false;
    }
    // Below the reply root anything goes, wildcards included: they stay inside the subtree.
    return true;
}

// The inbound topics an app may publish: each ends in its own <user>/<device>.
bool own_inbound(const identity& who, const levels& t) {
    if (t.count == 4 && t.at[0] == "presence" && t.at[2] == who.user && t.at[3] == who.device) {
        const std::string_view kind = t.at[1];
        return kind == "connect" || kind == "will" || kind == "disconnect" || kind == "profile" ||
               kind == "query";
    }
    if (t.count == 5 && t.at[0] == "party" && valid_identifier(t.at[1]) &&
        (t.at[2] == "join" || t.at[2] == "leave") && t.at[3] == who.user && t.at[4] == who.device) {
        return true;
    }
    return false;
}

}  // namespace

bool allowed(const identity& who, access what, std::string_view topic) {
    if (who.role == token::role::controller) return true;
    // An app's own identity must itself be valid, or nothing of it can be pinned.
    if (!valid_identifier(who.user) || !valid_identifier(who.device)) return false;
    switch (what) {
        case access::unsubscribe:
            return true;  // dropping a subscription never exposes anything
        case access::write: {
            if (topic.find_first_of("+#") != std::string_view::npos) return false;
            return own_inbound(who, levels(topic));
        }
        case access::subscribe:
        case access::read: {
            const bool filter = what == access::subscribe;
            // `$share/...` and `$SYS/...` are not for apps; `#` may only appear inside the
            // reply subtree, which own_replies checks level by level.
            if (topic.empty() || topic.front() == '$') return false;
            if (!filter && topic.find_first_of("+#") != std::string_view::npos) return false;
            const levels t(topic);
            if (own_replies(who, t)) return true;
            if (topic.find('#') != std::string_view::npos) return false;
            return public_output(t, filter);
        }
    }
    return false;
}

std::string own_will_topic(std::string_view user, std::string_view device) {
    std::string topic = "presence/will/";
    topic.append(user);
    topic += '/';
    topic.append(device);
    return topic;
}

}  // namespace presence::plugin
