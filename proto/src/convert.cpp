// Mapping between engine values and presence.v1 messages.
#include "convert.hpp"

#include <google/protobuf/util/json_util.h>

#include <climits>
#include <cstdint>
#include <utility>

namespace presence::wire::detail {
namespace {

namespace pb = google::protobuf;

// google.protobuf.Timestamp's valid range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
constexpr std::int64_t min_timestamp_seconds = -62135596800;
constexpr std::int64_t max_timestamp_seconds = 253402300799;

void to_proto(core::time_point t, pb::Timestamp& out) {
    const std::int64_t ms = t.time_since_epoch().count();
    std::int64_t seconds = ms / 1000;
    std::int64_t rest_ms = ms % 1000;
    if (rest_ms < 0) {
        seconds -= 1;
        rest_ms += 1000;
    }
    out.set_seconds(seconds);
    out.set_nanos(static_cast<std::int32_t>(rest_ms * 1'000'000));
}

bool from_proto(const pb::Timestamp& in, core::time_point& out) {
    if (in.seconds() < min_timestamp_seconds || in.seconds() > max_timestamp_seconds ||
        in.nanos() < 0 || in.nanos() > 999'999'999) {
        return false;
    }
    out = core::time_point{core::duration{in.seconds() * 1000 + in.nanos() / 1'000'000}};
    return true;
}

v1::MemberState to_proto(core::member_state s) {
    return s == core::member_state::present ? v1::MEMBER_STATE_PRESENT
                                            : v1::MEMBER_STATE_RECONNECTING;
}

v1::DeviceState to_proto(core::device_state s) {
    return s == core::device_state::live ? v1::DEVICE_STATE_LIVE : v1::DEVICE_STATE_RECONNECTING;
}

v1::EventKind to_proto(core::event_kind k) {
    switch (k) {
        case core::event_kind::joined:
            return v1::EVENT_KIND_JOINED;
        case core::event_kind::left:
            return v1::EVENT_KIND_LEFT;
        case core::event_kind::reconnecting:
            return v1::EVENT_KIND_RECONNECTING;
        case core::event_kind::back:
            return v1::EVENT_KIND_BACK;
        case core::event_kind::updated:
            return v1::EVENT_KIND_UPDATED;
    }
    return v1::EVENT_KIND_UNSPECIFIED;
}

v1::LeaveReason to_proto(core::leave_reason r) {
    switch (r) {
        case core::leave_reason::explicit_leave:
            return v1::LEAVE_REASON_EXPLICIT;
        case core::leave_reason::timeout:
            return v1::LEAVE_REASON_TIMEOUT;
        case core::leave_reason::sign_out:
            return v1::LEAVE_REASON_SIGN_OUT;
    }
    return v1::LEAVE_REASON_UNSPECIFIED;
}

bool from_proto(int s, core::member_state& out) {
    switch (s) {
        case v1::MEMBER_STATE_PRESENT:
            out = core::member_state::present;
            return true;
        case v1::MEMBER_STATE_RECONNECTING:
            out = core::member_state::reconnecting;
            return true;
        default:
            return false;
    }
}

bool from_proto(int s, core::device_state& out) {
    switch (s) {
        case v1::DEVICE_STATE_LIVE:
            out = core::device_state::live;
            return true;
        case v1::DEVICE_STATE_RECONNECTING:
            out = core::device_state::reconnecting;
            return true;
        default:
            return false;
    }
}

bool from_proto(int k, core::event_kind& out) {
    switch (k) {
        case v1::EVENT_KIND_JOINED:
            out = core::event_kind::joined;
            return true;
        case v1::EVENT_KIND_LEFT:
            out = core::event_kind::left;
            return true;
        case v1::EVENT_KIND_RECONNECTING:
            out = core::event_kind::reconnecting;
            return true;
        case v1::EVENT_KIND_BACK:
            out = core::event_kind::back;
            return true;
        case v1::EVENT_KIND_UPDATED:
            out = core::event_kind::updated;
            return true;
        default:
            return false;
    }
}

bool from_proto(int r, core::leave_reason& out) {
    switch (r) {
        case v1::LEAVE_REASON_EXPLICIT:
            out = core::leave_reason::explicit_leave;
            return true;
        case v1::LEAVE_REASON_TIMEOUT:
            out = core::leave_reason::timeout;
            return true;
        case v1::LEAVE_REASON_SIGN_OUT:
            out = core::leave_reason::sign_out;
            return true;
        default:
            return false;
    }
}

void to_proto(const core::device_view& in, v1::Device& out) {
    out.set_device_id(in.device_id);
    out.set_state(to_proto(in.state));
    if (in.state == core::device_state::reconnecting) {
        to_proto(in.reconnect_deadline, *out.mutable_reconnect_deadline());
    } else {
        out.clear_reconnect_deadline();
    }
}

void to_proto(const core::device_view& in, v1::DeviceRecord& out) {
    out.set_device_id(in.device_id);
    out.set_state(to_proto(in.state));
    if (in.state == core::device_state::reconnecting) {
        to_proto(in.reconnect_deadline, *out.mutable_reconnect_deadline());
    }
    out.set_session_id(in.session_id);
    for (const auto& e : in.ended_session_ids) *out.add_ended_session_ids() = e;
    out.set_broker_epoch(in.broker_epoch);
    out.set_connection_seq(in.connection_seq);
    out.set_session_unplaced(in.session_unplaced);
}

void to_proto(const core::member_view& in, v1::Member& out) {
    out.set_user_id(in.user_id);
    out.set_state(to_proto(in.state));
    detail::to_proto(in.profile, *out.mutable_profile());
    if (in.state == core::member_state::reconnecting) {
        to_proto(in.reconnect_deadline, *out.mutable_reconnect_deadline());
    } else {
        out.clear_reconnect_deadline();
    }
    auto& devices = *out.mutable_devices();
    devices.Clear();
    devices.Reserve(static_cast<int>(in.devices.size()));
    for (const auto& d : in.devices) to_proto(d, *devices.Add());
    to_proto(in.joined_at, *out.mutable_joined_at());
}

std::error_code from_proto(v1::Device& in, core::device_view& out) {
    if (!valid_identifier(in.device_id())) return error::bad_identifier;
    if (!from_proto(in.state(), out.state)) return error::bad_payload;
    out.reconnect_deadline = {};
    if (in.has_reconnect_deadline() &&
        !from_proto(in.reconnect_deadline(), out.reconnect_deadline)) {
        return error::bad_payload;
    }
    out.device_id = std::move(*in.mutable_device_id());
    out.session_id.clear();
    out.ended_session_ids.clear();
    out.broker_epoch = 0;
    out.connection_seq = 0;
    out.session_unplaced = false;
    return {};
}

std::error_code from_proto(v1::DeviceRecord& in, core::device_view& out) {
    if (!valid_identifier(in.device_id())) return error::bad_identifier;
    if (!valid_session_id(in.session_id())) return error::bad_session_id;
    if (!from_proto(in.state(), out.state)) return error::bad_payload;
    out.reconnect_deadline = {};
    if (in.has_reconnect_deadline() &&
        !from_proto(in.reconnect_deadline(), out.reconnect_deadline)) {
        return error::bad_payload;
    }
    if (in.ended_session_ids_size() > static_cast<int>(max_ended_session_ids)) {
        return error::bad_payload;
    }
    out.ended_session_ids.clear();
    for (auto& ended : *in.mutable_ended_session_ids()) {
        if (ended.empty() || !valid_session_id(ended)) return error::bad_session_id;
        out.ended_session_ids.push_back(std::move(ended));
    }
    out.device_id = std::move(*in.mutable_device_id());
    out.session_id = std::move(*in.mutable_session_id());
    out.broker_epoch = in.broker_epoch();
    out.connection_seq = in.connection_seq();
    out.session_unplaced = in.session_unplaced();
    return {};
}

// The private fields of a legacy (pre-v1.1) device, copied onto the lean view decoded from the
// same bytes; the device ids must agree, as they do in one payload.
std::error_code restore_private_fields(v1::DeviceRecord& in, core::device_view& out) {
    core::device_view full;
    if (auto ec = from_proto(in, full)) return ec;
    if (full.device_id != out.device_id) return error::bad_payload;
    out = std::move(full);
    return {};
}

std::error_code from_proto(google::protobuf::RepeatedPtrField<v1::Device>& in,
                           std::vector<core::device_view>& out) {
    out.clear();
    out.resize(static_cast<std::size_t>(in.size()));
    for (int i = 0; i < in.size(); ++i) {
        if (auto ec = from_proto(*in.Mutable(i), out[static_cast<std::size_t>(i)])) return ec;
    }
    return {};
}

std::error_code from_proto(v1::Member& in, core::member_view& out) {
    if (!valid_identifier(in.user_id())) return error::bad_identifier;
    if (!from_proto(in.state(), out.state)) return error::bad_payload;
    if (!valid_profile(in.profile())) return error::bad_profile;
    out.reconnect_deadline = {};
    out.joined_at = {};
    if (in.has_reconnect_deadline() &&
        !from_proto(in.reconnect_deadline(), out.reconnect_deadline)) {
        return error::bad_payload;
    }
    if (in.has_joined_at() && !from_proto(in.joined_at(), out.joined_at)) return error::bad_payload;
    if (auto ec = from_proto(*in.mutable_devices(), out.devices)) return ec;
    out.user_id = std::move(*in.mutable_user_id());
    detail::from_proto(*in.mutable_profile(), out.profile);
    return {};
}

bool from_optional(const pb::Timestamp* in, core::time_point& out) {
    out = {};
    return in == nullptr || from_proto(*in, out);
}

}  // namespace

void to_timestamp(core::time_point in, pb::Timestamp& out) { to_proto(in, out); }

bool from_timestamp(const pb::Timestamp& in, core::time_point& out) { return from_proto(in, out); }

bool valid_session_id(std::string_view session_id) {
    if (session_id.size() > max_session_id_bytes) return false;
    for (const char c : session_id) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) return false;
    }
    return true;
}

bool valid_profile(const v1::Profile& profile) {
    return profile.display_name().size() <= max_display_name_bytes &&
           profile.avatar_url().size() <= max_avatar_url_bytes &&
           profile.status_text().size() <= max_status_text_bytes;
}

void to_proto(const core::profile& in, v1::Profile& out) {
    out.set_display_name(in.display_name);
    out.set_avatar_url(in.avatar_url);
    out.set_status_text(in.status_text);
}

void from_proto(v1::Profile& in, core::profile& out) {
    out.display_name = std::move(*in.mutable_display_name());
    out.avatar_url = std::move(*in.mutable_avatar_url());
    out.status_text = std::move(*in.mutable_status_text());
}

void to_proto(const core::party_snapshot& in, v1::PartyMembers& out) {
    out.set_party_id(in.party_id);
    out.set_revision(in.revision);
    auto& members = *out.mutable_members();
    members.Clear();
    members.Reserve(static_cast<int>(in.members.size()));
    for (const auto& m : in.members) to_proto(m, *members.Add());
    to_proto(in.updated_at, *out.mutable_updated_at());
}

void to_proto(const core::party_event& in, v1::PartyEvent& out) {
    out.set_party_id(in.party_id);
    out.set_revision(in.revision);
    out.set_kind(to_proto(in.kind));
    to_proto(in.member, *out.mutable_member());
    out.set_reason(in.kind == core::event_kind::left ? to_proto(in.reason)
                                                     : v1::LEAVE_REASON_UNSPECIFIED);
    to_proto(in.at, *out.mutable_at());
}

void to_proto(const core::user_presence& in, v1::UserPresence& out) {
    out.set_user_id(in.user_id);
    out.set_online(in.online);
    to_proto(in.last_seen, *out.mutable_last_seen());
    detail::to_proto(in.profile, *out.mutable_profile());
    auto& devices = *out.mutable_devices();
    devices.Clear();
    devices.Reserve(static_cast<int>(in.devices.size()));
    for (const auto& d : in.devices) to_proto(d, *devices.Add());
    auto& parties = *out.mutable_parties();
    parties.Clear();
    parties.Reserve(static_cast<int>(in.parties.size()));
    for (const auto& p : in.parties) parties.Add()->assign(p);
}

std::error_code from_proto(v1::PartyMembers& in, core::party_snapshot& out) {
    if (!valid_identifier(in.party_id())) return error::bad_identifier;
    if (!from_optional(in.has_updated_at() ? &in.updated_at() : nullptr, out.updated_at)) {
        return error::bad_payload;
    }
    out.members.clear();
    out.members.resize(static_cast<std::size_t>(in.members_size()));
    for (int i = 0; i < in.members_size(); ++i) {
        if (auto ec =
                from_proto(*in.mutable_members(i), out.members[static_cast<std::size_t>(i)])) {
            return ec;
        }
    }
    out.party_id = std::move(*in.mutable_party_id());
    out.revision = in.revision();
    return {};
}

std::error_code from_proto(v1::PartyEvent& in, core::party_event& out) {
    if (!valid_identifier(in.party_id())) return error::bad_identifier;
    if (!from_proto(in.kind(), out.kind)) return error::bad_payload;
    out.reason = core::leave_reason::explicit_leave;
    if (out.kind == core::event_kind::left && !from_proto(in.reason(), out.reason)) {
        return error::bad_payload;
    }
    if (!from_optional(in.has_at() ? &in.at() : nullptr, out.at)) return error::bad_payload;
    if (!in.has_member()) return error::bad_payload;
    if (auto ec = from_proto(*in.mutable_member(), out.member)) return ec;
    out.party_id = std::move(*in.mutable_party_id());
    out.revision = in.revision();
    return {};
}

std::error_code from_proto(v1::UserPresence& in, core::user_presence& out) {
    if (!valid_identifier(in.user_id())) return error::bad_identifier;
    if (!valid_profile(in.profile())) return error::bad_profile;
    for (const auto& p : in.parties()) {
        if (!valid_identifier(p)) return error::bad_identifier;
    }
    if (!from_optional(in.has_last_seen() ? &in.last_seen() : nullptr, out.last_seen)) {
        return error::bad_payload;
    }
    if (auto ec = from_proto(*in.mutable_devices(), out.devices)) return ec;
    out.user_id = std::move(*in.mutable_user_id());
    out.online = in.online();
    detail::from_proto(*in.mutable_profile(), out.profile);
    out.parties.clear();
    out.parties.reserve(static_cast<std::size_t>(in.parties_size()));
    for (auto& p : *in.mutable_parties()) out.parties.push_back(std::move(p));
    return {};
}

bool parse_message(std::string_view payload, google::protobuf::Message& message, bool json) {
    if (json) {
        google::protobuf::util::JsonParseOptions options;
        options.ignore_unknown_fields = false;
        return google::protobuf::util::JsonStringToMessage(
                   google::protobuf::StringPiece(payload.data(), payload.size()), &message, options)
            .ok();
    }
    if (payload.size() > INT_MAX) return false;
    return message.ParseFromArray(payload.data(), static_cast<int>(payload.size()));
}

void to_proto(const core::broker_record& in, v1::BrokerRecord& out) {
    out.set_broker_epoch(in.epoch);
    if (in.started_at != core::time_point{}) to_proto(in.started_at, *out.mutable_started_at());
    for (const auto e : in.retired) out.add_retired_epochs(e);
    out.set_format(1);
}

std::error_code from_proto(v1::BrokerRecord& in, core::broker_record& out) {
    out.epoch = in.broker_epoch();
    out.started_at = {};
    if (!from_optional(in.has_started_at() ? &in.started_at() : nullptr, out.started_at)) {
        return error::bad_payload;
    }
    out.retired.assign(in.retired_epochs().begin(), in.retired_epochs().end());
    return {};
}

void to_proto(const core::user_record& in, v1::UserRecord& out) {
    out.set_user_id(in.user_id);
    to_proto(in.last_seen, *out.mutable_last_seen());
    detail::to_proto(in.profile, *out.mutable_profile());
    for (const auto& d : in.devices) to_proto(d, *out.add_devices());
    for (const auto& m : in.memberships) {
        auto& rec = *out.add_memberships();
        rec.set_party_id(m.party_id);
        to_proto(m.joined_at, *rec.mutable_joined_at());
        for (const auto& d : m.device_ids) rec.add_device_ids(d);
    }
}

std::error_code from_proto(v1::UserRecord& in, core::user_record& out) {
    if (!valid_identifier(in.user_id())) return error::bad_identifier;
    if (!valid_profile(in.profile())) return error::bad_profile;
    if (!from_optional(in.has_last_seen() ? &in.last_seen() : nullptr, out.last_seen)) {
        return error::bad_payload;
    }
    out.devices.clear();
    out.devices.resize(static_cast<std::size_t>(in.devices_size()));
    for (int i = 0; i < in.devices_size(); ++i) {
        if (auto ec =
                from_proto(*in.mutable_devices(i), out.devices[static_cast<std::size_t>(i)])) {
            return ec;
        }
    }
    out.memberships.clear();
    for (auto& m : *in.mutable_memberships()) {
        if (!valid_identifier(m.party_id())) return error::bad_identifier;
        core::membership_record rec;
        if (!from_optional(m.has_joined_at() ? &m.joined_at() : nullptr, rec.joined_at)) {
            return error::bad_payload;
        }
        for (auto& d : *m.mutable_device_ids()) {
            if (!valid_identifier(d)) return error::bad_identifier;
            rec.device_ids.push_back(std::move(d));
        }
        rec.party_id = std::move(*m.mutable_party_id());
        out.memberships.push_back(std::move(rec));
    }
    out.user_id = std::move(*in.mutable_user_id());
    detail::from_proto(*in.mutable_profile(), out.profile);
    return {};
}

std::error_code restore_private_fields(v1::LegacyPartyMembers& in, core::party_snapshot& out) {
    if (static_cast<std::size_t>(in.members_size()) != out.members.size()) {
        return error::bad_payload;
    }
    for (int i = 0; i < in.members_size(); ++i) {
        auto& member = *in.mutable_members(i);
        auto& view = out.members[static_cast<std::size_t>(i)];
        if (static_cast<std::size_t>(member.devices_size()) != view.devices.size()) {
            return error::bad_payload;
        }
        for (int d = 0; d < member.devices_size(); ++d) {
            if (auto ec = restore_private_fields(*member.mutable_devices(d),
                                                 view.devices[static_cast<std::size_t>(d)])) {
                return ec;
            }
        }
    }
    return {};
}

std::error_code restore_private_fields(v1::LegacyUserPresence& in, core::user_presence& out) {
    if (static_cast<std::size_t>(in.devices_size()) != out.devices.size()) {
        return error::bad_payload;
    }
    for (int d = 0; d < in.devices_size(); ++d) {
        if (auto ec = restore_private_fields(*in.mutable_devices(d),
                                             out.devices[static_cast<std::size_t>(d)])) {
            return ec;
        }
    }
    return {};
}

}  // namespace presence::wire::detail
