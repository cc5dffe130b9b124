// Turns engine effects into MQTT publishes: each message is built once, then serialised to
// binary and printed as JSON.
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "convert.hpp"
#include "json.hpp"
#include "presence/wire/wire.hpp"

namespace presence::wire {
namespace {

// One message per type and thread, overwritten by every render: protobuf keeps the capacity of
// cleared strings and repeated elements, so a steady stream of effects allocates almost nothing
// besides the payloads themselves.
template <class Message>
Message& scratch() {
    thread_local Message message;
    return message;
}

template <class Message, class Value>
void render_pair(const Value& value, std::string topic, bool retained, std::vector<outbound>& out,
                 render_options options) {
    Message& message = scratch<Message>();
    detail::to_proto(value, message);
    std::string binary;
    message.SerializeToString(&binary);
    if (!options.json_twins) {
        out.push_back({std::move(topic), std::move(binary), retained});
        return;
    }
    std::string json;
    json.reserve(binary.size() * 3 + 64);
    detail::append_json(message, json);
    std::string json_topic;
    json_topic.reserve(topic.size() + json_suffix.size());
    json_topic.append(topic).append(json_suffix);
    out.push_back({std::move(topic), std::move(binary), retained});
    out.push_back({std::move(json_topic), std::move(json), retained});
}

}  // namespace

void render(const core::effect& effect, std::vector<outbound>& out, render_options options) {
    std::visit(
        [&out, options](const auto& e) {
            using type = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<type, core::publish_snapshot>) {
                render_pair<v1::PartyMembers>(e.snapshot, members_topic(e.snapshot.party_id), true,
                                              out, options);
            } else if constexpr (std::is_same_v<type, core::clear_snapshot>) {
                std::string topic = members_topic(e.party_id);
                std::string json_topic = topic;
                json_topic.append(json_suffix);
                out.push_back({std::move(topic), {}, true});
                out.push_back({std::move(json_topic), {}, true});
            } else if constexpr (std::is_same_v<type, core::publish_event>) {
                render_pair<v1::PartyEvent>(e.event, events_topic(e.event.party_id), false, out,
                                            options);
            } else {
                static_assert(std::is_same_v<type, core::publish_user>);
                render_pair<v1::UserPresence>(e.user, user_topic(e.user.user_id), true, out,
                                              options);
            }
        },
        effect);
}

}  // namespace presence::wire
