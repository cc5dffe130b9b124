#pragma once
// What an engine leaves retained on the broker, and a fresh engine restored from it through the
// host's restore path (presence::host::restore_engine), so engine tests of restart behaviour run
// the controller's own restore order and precedence instead of a copy of it.

#include <initializer_list>
#include <string>
#include <vector>

#include "presence/core/engine.hpp"
#include "presence/host/host.hpp"
#include "presence/v1/presence.pb.h"
#include "presence/wire/wire.hpp"

namespace presence::core::testing {

// The private records of the named users and every party's public snapshot.
inline std::vector<host::retained_message> retained_of(const engine& old,
                                                       std::initializer_list<const char*> users = {
                                                           "alice", "bob", "carol"}) {
    std::vector<host::retained_message> out;
    for (const auto* user_id : users) {
        if (auto r = old.record(user_id)) {
            out.push_back({wire::controller_state_topic(user_id), wire::encode(*r)});
        }
    }
    for (const auto& party_id : old.party_ids()) {
        out.push_back({wire::members_topic(party_id), wire::encode(*old.snapshot(party_id))});
    }
    return out;
}

// A public user record as a controller before protocol v1.1 published it: devices with their
// session, ended sessions and broker connection (the upgrade path reads them).
inline std::string legacy_user_payload(const engine& old, const std::string& user_id) {
    auto lean = *old.user(user_id);
    lean.devices.clear();
    v1::UserRecord record;
    record.ParseFromString(wire::encode(*old.record(user_id)));
    v1::LegacyUserPresence legacy;
    *legacy.mutable_devices() = record.devices();
    return wire::encode(lean) + legacy.SerializeAsString();
}

// A fresh engine restored from `retained` the way the controller restores (no coalescing).
inline engine restored_from(const std::vector<host::retained_message>& retained, duration grace) {
    engine fresh{engine_config{grace, 4}};
    host::restore_engine(fresh, retained, time_point{}, false);
    return fresh;
}

}  // namespace presence::core::testing
