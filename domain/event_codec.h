// How a domain event is stored: its type name is the full protobuf name of
// its message (e.g. "es.v1.AccountOpened") and its data the serialized
// message. Decoding is the exact inverse; anything else is not an event of
// this domain.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "domain/domain_event.h"

namespace es::domain {

struct EncodedEvent {
  std::string type;  // e.g. "es.v1.AccountOpened"
  std::string data;  // the serialized message
};

// The stored type name of the event type Event, looked up once: the
// descriptor lookup behind Event::descriptor() costs a call_once and a
// thread-local access, which was measurable per event in the saga.
template <typename Event>
const std::string& TypeNameOf() {
  static const std::string name = Event::descriptor()->full_name();
  return name;
}

// The stored type name of `event`.
std::string EventTypeName(const DomainEvent& event);

EncodedEvent EncodeEvent(const DomainEvent& event);

// The event stored as (`type`, `data`); nothing if `type` is not a domain
// event type or `data` does not parse as one.
std::optional<DomainEvent> DecodeEvent(std::string_view type, std::string_view data);

// The event stored as (`type`, `data`) as one line of JSON, keys as in the
// .proto (snake_case), every field printed even when zero; int64 values are
// strings (the proto3 JSON mapping). Nothing if it does not decode.
std::optional<std::string> EventToJson(std::string_view type, std::string_view data);

}  // namespace es::domain
