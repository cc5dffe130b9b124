#include "presence/plugin/rules.hpp"

namespace presence::plugin {

namespace {

// Topics (or filters) that every app may read: the controller's public outputs. The controller's
// private state (presence/controller/state/...) and stats are not among them: only the
// controller role reads and writes those (the observer role may read the stats).
bool public_output(const wire::parsed_topic& t) {
    return t.what == wire::topic_class::output || t.what == wire::topic_class::controller_status;
}

// presence/reply/<user>/<device> and anything below it: the app's own query replies. Below the
// reply root anything goes, wildcards included: they stay inside the subtree.
bool own_replies(const identity& who, const wire::parsed_topic& t) {
    return t.what == wire::topic_class::reply && t.user_id == who.user && t.device_id == who.device;
}

// The inbound topics an app may publish: each ends in its own <user>/<device>. The plugin's own
// lifecycle topics, the broker epoch and the census are not an app's.
bool own_inbound(const identity& who, const wire::parsed_topic& t) {
    const bool app_inbound = (t.what == wire::topic_class::inbound &&
                              t.inbound != wire::inbound_kind::lifecycle_connected &&
                              t.inbound != wire::inbound_kind::lifecycle_disconnected &&
                              t.inbound != wire::inbound_kind::broker_epoch &&
                              t.inbound != wire::inbound_kind::broker_census) ||
                             t.what == wire::topic_class::query;
    return app_inbound && t.user_id == who.user && t.device_id == who.device;
}

// The topic as the grammar reads it; a topic that does not parse is none of the above.
wire::parsed_topic parse(std::string_view topic, bool filter) {
    wire::parsed_topic t;
    if (wire::parse_topic(topic, t, filter) != wire::topic_error::ok) t = {};
    return t;
}

// An observer (operator tools): public outputs, the controller's stats, its own query topic and
// its own replies; nothing that an app reports about itself.
bool observer_allowed(const identity& who, access what, std::string_view topic) {
    if (what == access::unsubscribe) return true;
    if (topic.empty() || topic.front() == '$') return false;
    if (what == access::write) {
        if (topic.find_first_of("+#") != std::string_view::npos) return false;
        const wire::parsed_topic t = parse(topic, false);
        return t.what == wire::topic_class::query && t.user_id == who.user &&
               t.device_id == who.device;
    }
    const bool filter = what == access::subscribe;
    if (!filter && topic.find_first_of("+#") != std::string_view::npos) return false;
    const wire::parsed_topic t = parse(topic, filter);
    if (own_replies(who, t)) return true;
    if (topic.find('#') != std::string_view::npos) return false;
    return t.what == wire::topic_class::controller_stats || public_output(t);
}

}  // namespace

bool allowed(const identity& who, access what, std::string_view topic) {
    if (who.role == token::role::controller) return true;
    // An app's own identity must itself be valid, or nothing of it can be pinned.
    if (!valid_identifier(who.user) || !valid_identifier(who.device)) return false;
    if (who.role == token::role::observer) return observer_allowed(who, what, topic);
    switch (what) {
        case access::unsubscribe:
            return true;  // dropping a subscription never exposes anything
        case access::write: {
            if (topic.find_first_of("+#") != std::string_view::npos) return false;
            return own_inbound(who, parse(topic, false));
        }
        case access::subscribe:
        case access::read: {
            const bool filter = what == access::subscribe;
            // `$share/...` and `$SYS/...` are not for apps; `#` may only appear inside the
            // reply subtree, which own_replies checks level by level.
            if (topic.empty() || topic.front() == '$') return false;
            if (!filter && topic.find_first_of("+#") != std::string_view::npos) return false;
            const wire::parsed_topic t = parse(topic, filter);
            if (own_replies(who, t)) return true;
            if (topic.find('#') != std::string_view::npos) return false;
            return public_output(t);
        }
    }
    return false;
}

std::string own_will_topic(std::string_view user, std::string_view device) {
    return wire::inbound_topic(wire::inbound_kind::will, user, device);
}

}  // namespace presence::plugin
