#include "backpressure.hpp"

#include <MQTTAsync.h>

#include <algorithm>

namespace presence::controller {

watermark::watermark(pending_load high)
    : high_{std::max<std::size_t>(high.publishes, 1), std::max<std::size_t>(high.bytes, 1)},
      low_{high_.publishes / 2, high_.bytes / 2} {}

bool watermark::update(pending_load load) {
    if (paused_) {
        paused_ = load.publishes > low_.publishes || load.bytes > low_.bytes;
    } else if (load.publishes >= high_.publishes || load.bytes >= high_.bytes) {
        paused_ = true;
        ++pauses_;
    }
    return paused_;
}

retry_backoff::retry_backoff(std::chrono::milliseconds first, std::chrono::milliseconds cap)
    : first_(first), cap_(std::max(first, cap)), delay_(first) {}

void retry_backoff::refused(clock::time_point now) {
    next_ = now + delay_;
    delay_ = std::min(delay_ * 2, cap_);
}

void retry_backoff::accepted() {
    next_.reset();
    delay_ = first_;
}

refusal classify_refusal(int paho_return_code) {
    switch (paho_return_code) {
        case MQTTASYNC_BAD_UTF8_STRING:
        case MQTTASYNC_NULL_PARAMETER:
        case MQTTASYNC_TOPICNAME_TRUNCATED:
        case MQTTASYNC_BAD_STRUCTURE:
        case MQTTASYNC_BAD_QOS:
        case MQTTASYNC_SSL_NOT_SUPPORTED:
        case MQTTASYNC_BAD_PROTOCOL:
        case MQTTASYNC_BAD_MQTT_OPTION:
        case MQTTASYNC_WRONG_MQTT_VERSION:
        case MQTTASYNC_0_LEN_WILL_TOPIC:
            return refusal::permanent;
        default:
            // Full buffers, no free message ids, a lost connection, and codes this list does not
            // know: retrying costs a little time, dropping would lose retained state.
            return refusal::transient;
    }
}

}  // namespace presence::controller
