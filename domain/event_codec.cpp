#include "domain/event_codec.h"

#include <google/protobuf/util/json_util.h>

#include <climits>
#include <cstddef>
#include <type_traits>
#include <variant>

namespace es::domain {
namespace {

const google::protobuf::Message& AsMessage(const DomainEvent& event) {
  return std::visit([](const auto& e) -> const google::protobuf::Message& { return e; }, event);
}

// Tries each alternative of DomainEvent in turn, from the Index-th.
template <std::size_t Index = 0>
std::optional<DomainEvent> DecodeAlternative(std::string_view type, std::string_view data) {
  if constexpr (Index == std::variant_size_v<DomainEvent>) {
    return std::nullopt;
  } else {
    using Event = std::variant_alternative_t<Index, DomainEvent>;
    if (TypeNameOf<Event>() != type) {
      return DecodeAlternative<Index + 1>(type, data);
    }
    Event event;
    if (data.size() > static_cast<std::size_t>(INT_MAX) ||
        !event.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
      return std::nullopt;
    }
    return DomainEvent(std::move(event));
  }
}

}  // namespace

std::string EventTypeName(const DomainEvent& event) {
  return std::visit([](const auto& e) { return TypeNameOf<std::decay_t<decltype(e)>>(); }, event);
}

EncodedEvent EncodeEvent(const DomainEvent& event) {
  return EncodedEvent{EventTypeName(event), AsMessage(event).SerializeAsString()};
}

std::optional<DomainEvent> DecodeEvent(std::string_view type, std::string_view data) {
  return DecodeAlternative(type, data);
}

std::optional<std::string> EventToJson(std::string_view type, std::string_view data) {
  std::optional<DomainEvent> event = DecodeEvent(type, data);
  if (!event) return std::nullopt;
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(AsMessage(*event), &json, options).ok()) {
    return std::nullopt;
  }
  return json;
}

}  // namespace es::domain
