#pragma once
// Encoding of what the plugin publishes: lifecycle events (presence.v1.ConnectionEvent) and the
// broker epoch (presence.v1.BrokerEpoch, retained on wire::broker_epoch_topic at the first TICK
// of every broker run), with their topics.

#include <cstdint>
#include <string>
#include <string_view>

#include "presence/plugin/connections.hpp"
#include "presence/wire/topics.hpp"

namespace presence::plugin {

// presence/lifecycle/connected/<user>/<device> or presence/lifecycle/disconnected/<user>/<device>.
std::string lifecycle_topic(const lifecycle_event& event);

// The ConnectionEvent of one lifecycle event, serialized.
std::string encode(const lifecycle_event& event, std::uint64_t broker_epoch);

// The BrokerEpoch message, serialized.
std::string encode_epoch(std::uint64_t broker_epoch, std::int64_t started_us,
                         std::string_view plugin_version);

// The ConnectionCensus message, serialized (published on wire::broker_census_topic).
std::string encode_census(const census& c, std::uint64_t broker_epoch, std::int64_t started_us);

// A broker-run identifier: the start time in microseconds shifted left, with random low bits,
// so two runs (even two brokers started in the same microsecond) differ. Never 0.
std::uint64_t make_epoch(std::int64_t wall_us, std::uint64_t random_bits);

}  // namespace presence::plugin
