#include "session.hpp"

#include <unistd.h>

#include "error.hpp"
#include "presence/wire/wire.hpp"

namespace presence::ctl {

session open_session(const common_options& common, bool mqtt5) {
    session s;
    s.user = common.username;
    s.device =
        common.client_id.empty() ? "presencectl-" + std::to_string(::getpid()) : common.client_id;
    if (!wire::valid_identifier(s.user) || !wire::valid_identifier(s.device)) {
        throw failure(exit_usage,
                      "--username and --client-id must be 1-64 characters of "
                      "[A-Za-z0-9._-]");
    }
    client_options opts;
    opts.client_id = s.device;
    opts.username = s.user;
    opts.password = common.password;
    opts.mqtt5 = mqtt5;
    s.mqtt = std::make_unique<client>(std::move(opts));
    s.mqtt->connect(parse_broker(common.broker), common.timeout);
    return s;
}

}  // namespace presence::ctl
