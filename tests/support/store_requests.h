// Builders for store requests in tests, so a test states only what it is
// about.
#pragma once

#include <cstdint>
#include <string>

#include <google/protobuf/message.h>

#include "es/v1/store.pb.h"

namespace es::testing {

// An ExpectedVersion of each kind.
es::v1::ExpectedVersion ExpectExact(uint64_t version);
es::v1::ExpectedVersion ExpectAny();
es::v1::ExpectedVersion ExpectNoStream();

// An append of `event_count` events to `stream_id` under `command_id`.
// Event i (from 0) has id "<command_id>/<i>", type "test.Event", and data
// "<command_id>:<i>", so a reader can tell where every event came from.
es::v1::AppendRequest MakeAppend(const std::string& stream_id, const std::string& command_id,
                                 const es::v1::ExpectedVersion& expected, int event_count = 1);

// A raw append of one event, `event` stored as the domain stores it (type:
// its full protobuf name; data: its bytes) — what a client with the writer's
// access could append, bypassing command_service. Event id "<command_id>/0".
es::v1::AppendRequest AppendOfMessage(const std::string& stream_id, const std::string& command_id,
                                      const es::v1::ExpectedVersion& expected,
                                      const google::protobuf::Message& event);

// Request wrappers.
es::v1::StoreRequest AppendRequestOf(es::v1::AppendRequest append);
es::v1::StoreRequest PingRequest();
es::v1::StoreRequest ReadStreamRequest(const std::string& stream_id, uint64_t from_version,
                                       uint32_t max_count = 0);
es::v1::StoreRequest ReadAllRequest(uint64_t from_position, uint32_t max_count = 0,
                                    const std::string& stream_prefix = "");

}  // namespace es::testing
