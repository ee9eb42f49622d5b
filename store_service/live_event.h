// What the store publishes for committed events: LiveMessage{event} for
// each, or LiveMessage{batch} for several, serialized straight into the
// ZeroMQ message that carries it. The bytes
// are those of FillCommittedRecord then SerializeToString (fields in number
// order, proto3 defaults left out), without the EventRecord in between or
// the copy into the socket: at hundreds of thousands of events a second,
// those copies were a measurable part of the store's main thread.
#pragma once

#include <cstdint>
#include <span>
#include <zmq.hpp>

#include "es/v1/store.pb.h"

namespace es::store {

// One committed event: event `index` of `request`, committed as `result`
// (not a duplicate) at `recorded_at_us`.
struct CommittedEvent {
  const es::v1::AppendRequest* request;
  int index;
  const es::v1::AppendResult* result;
  int64_t recorded_at_us;
};

// The LiveMessage{event} for `event`.
zmq::message_t EncodeLiveEvent(const CommittedEvent& event);

// The LiveMessage{batch} for `events` (in global order). Field 1 of
// LiveMessage and of EventBatch is the EventRecord, so the batch's body is
// the events' encodings one after the other.
zmq::message_t EncodeLiveBatch(std::span<const CommittedEvent> events);

}  // namespace es::store
