#pragma once
// The tool's own connection for watch and the queries: username = --username (a user id),
// client id = --client-id (a device id), so that the hardened ACL and the plugin can pin query
// topics to the caller's identity like every other inbound topic.

#include <memory>
#include <string>

#include "commands.hpp"
#include "mqtt_client.hpp"

namespace presence::ctl {

struct session {
    std::string user;
    std::string device;
    std::unique_ptr<ctl::client> mqtt;
};

// Connects (waiting for CONNACK within common.timeout). Throws failure.
session open_session(const common_options& common, bool mqtt5);

}  // namespace presence::ctl
