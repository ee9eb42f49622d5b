// Topics on the store's PUB socket. An event's topic is its stream id; the
// store's own messages use topics that start with a control byte, which
// stream ids may not (ValidateAppend), so the two never collide.
#pragma once

#include <cstddef>
#include <string_view>

namespace es::store {

// [kHeartbeatTopic][LiveMessage{heartbeat}] is published every heartbeat
// interval: it carries the head, so a subscriber can detect a silent gap.
inline constexpr std::string_view kHeartbeatTopic{"\x01hb", 3};
// [kBatchTopic][LiveMessage{batch}]: a commit's events, up to kBatchEvents
// to a message, published while some SUB socket subscribes to the topic.
inline constexpr std::string_view kBatchTopic{
    "\x02"
    "batch",
    6};
inline constexpr size_t kBatchEvents = 16;

}  // namespace es::store
