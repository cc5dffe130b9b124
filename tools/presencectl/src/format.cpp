#include "format.hpp"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <cstdio>

namespace presence::ctl {

namespace pb = presence::v1;

std::string to_json(const google::protobuf::Message& msg) {
    std::string out;
    google::protobuf::util::JsonPrintOptions opts;
    opts.preserve_proto_field_names = true;
    opts.always_print_primitive_fields = true;
    (void)google::protobuf::util::MessageToJsonString(msg, &out, opts);
    return out;
}

std::string format_time(const google::protobuf::Timestamp& t) {
    if (t.seconds() == 0 && t.nanos() == 0) return "-";
    const std::string full = google::protobuf::util::TimeUtil::ToString(t);
    // TimeUtil prints 0, 3, 6 or 9 fractional digits; keep at most milliseconds.
    const auto dot = full.find('.');
    if (dot == std::string::npos || full.size() - dot <= 5) return full;
    return full.substr(0, dot + 4) + "Z";
}

namespace {

std::string countdown(const google::protobuf::Timestamp& deadline,
                      std::chrono::system_clock::time_point now) {
    const auto ms =
        deadline.seconds() * 1000 + deadline.nanos() / 1000000 -
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    const long long left = ms <= 0 ? 0 : (ms + 999) / 1000;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%lld:%02lld", left / 60, left % 60);
    return buf;
}

std::string device_list(const google::protobuf::RepeatedPtrField<pb::Device>& devices,
                        bool with_state) {
    std::string out = "[";
    for (int i = 0; i < devices.size(); ++i) {
        if (i > 0) out += ", ";
        out += devices[i].device_id();
        if (with_state) {
            out += devices[i].state() == pb::DEVICE_STATE_LIVE ? " live" : " reconnecting";
        }
    }
    return out + "]";
}

std::string who(const pb::Member& m) {
    const std::string& name = m.profile().display_name();
    return name.empty() || name == m.user_id() ? m.user_id() : m.user_id() + " (" + name + ")";
}

const char* kind_word(pb::EventKind k) {
    switch (k) {
        case pb::EVENT_KIND_JOINED:
            return "joined";
        case pb::EVENT_KIND_LEFT:
            return "left";
        case pb::EVENT_KIND_RECONNECTING:
            return "reconnecting";
        case pb::EVENT_KIND_BACK:
            return "back";
        case pb::EVENT_KIND_UPDATED:
            return "updated";
        default:
            return "event?";
    }
}

const char* reason_word(pb::LeaveReason r) {
    switch (r) {
        case pb::LEAVE_REASON_EXPLICIT:
            return "explicit";
        case pb::LEAVE_REASON_TIMEOUT:
            return "timeout";
        case pb::LEAVE_REASON_SIGN_OUT:
            return "sign_out";
        default:
            return "unspecified";
    }
}

std::string pad(std::string s, std::size_t width) {
    if (s.size() < width) s.append(width - s.size(), ' ');
    return s;
}

}  // namespace

std::string describe(const pb::Member& m, std::chrono::system_clock::time_point now) {
    std::string out = who(m);
    if (m.state() == pb::MEMBER_STATE_RECONNECTING) {
        out += " reconnecting " + countdown(m.reconnect_deadline(), now) + " left";
    } else {
        out += " present";
    }
    return out + " " + device_list(m.devices(), false);
}

std::string describe(const pb::PartyMembers& s, std::chrono::system_clock::time_point now) {
    std::string out = "rev " + std::to_string(s.revision()) + "  " + pad("members", 13) +
                      s.party_id() + ": " + std::to_string(s.members_size());
    for (int i = 0; i < s.members_size(); ++i) {
        out += i == 0 ? " -- " : "; ";
        out += describe(s.members(i), now);
    }
    return out;
}

std::string describe(const pb::PartyEvent& e, std::chrono::system_clock::time_point now) {
    std::string out = "rev " + std::to_string(e.revision()) + "  " + pad(kind_word(e.kind()), 13) +
                      who(e.member()) + " " + device_list(e.member().devices(), false);
    if (e.kind() == pb::EVENT_KIND_LEFT) out += " reason=" + std::string(reason_word(e.reason()));
    if (e.kind() == pb::EVENT_KIND_RECONNECTING) {
        out += " deadline " + format_time(e.member().reconnect_deadline()) + " (" +
               countdown(e.member().reconnect_deadline(), now) + " left)";
    }
    return out;
}

std::string describe(const pb::UserPresence& u) {
    std::string out = pad(u.user_id(), 12) + pad(u.online() ? "online" : "offline", 9) +
                      "last seen " + format_time(u.last_seen());
    if (u.devices_size() > 0) out += "  devices: " + device_list(u.devices(), true);
    if (u.parties_size() > 0) {
        out += "  parties:";
        for (const auto& p : u.parties()) out += " " + p;
    }
    return out;
}

}  // namespace presence::ctl
