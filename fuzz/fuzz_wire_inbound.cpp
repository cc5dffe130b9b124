// Fuzzes the controller's inbound decoder: the first byte splits the input into a topic and a
// payload. Any input must decode or be rejected with an error, never crash.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <google/protobuf/stubs/logging.h>

#include "presence/wire/wire.hpp"

// Protobuf logs every string field with invalid UTF-8 to stderr; under the fuzzer that is
// gigabytes of noise and most of the time spent.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
    google::protobuf::SetLogHandler(nullptr);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view all(reinterpret_cast<const char*>(data), size);
    const std::size_t split = std::min<std::size_t>(data[0], size - 1);
    const std::string_view topic = all.substr(1, split);
    const std::string_view payload = all.substr(1 + split);
    presence::wire::inbound msg;
    const std::error_code ec = presence::wire::decode_inbound(topic, payload, msg);
    if (!ec) {
        // The broker epoch names no device, but is never 0.
        if (msg.kind == presence::wire::inbound_kind::broker_epoch) {
            if (msg.broker_epoch == 0) __builtin_trap();
            return 0;
        }
        // Neither does the census: its epoch is never 0, and every connection it lists has
        // valid identifiers and a number in 1..last_connection_seq.
        if (msg.kind == presence::wire::inbound_kind::broker_census) {
            if (msg.broker_epoch == 0) __builtin_trap();
            for (const auto& c : msg.census) {
                if (!presence::wire::valid_identifier(c.device.user_id) ||
                    !presence::wire::valid_identifier(c.device.device_id) ||
                    c.connection_seq == 0 || c.connection_seq > msg.connection_seq) {
                    __builtin_trap();
                }
            }
            return 0;
        }
        // An accepted message has valid identifiers, whatever the bytes were.
        if (!presence::wire::valid_identifier(msg.device.user_id) ||
            !presence::wire::valid_identifier(msg.device.device_id)) {
            __builtin_trap();
        }
        // A lifecycle event is always numbered.
        if ((msg.kind == presence::wire::inbound_kind::lifecycle_connected ||
             msg.kind == presence::wire::inbound_kind::lifecycle_disconnected) &&
            (msg.broker_epoch == 0 || msg.connection_seq == 0)) {
            __builtin_trap();
        }
    }
    return 0;
}
