#include "bus/event_json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <memory>

#include "es/v1/bank.pb.h"

namespace es::bus {
namespace {

std::string Base64(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t n = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i < bytes.size()) {
    uint32_t n = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= uint8_t(bytes[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace

std::string JsonQuote(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

std::string PayloadToJson(const std::string& type, const std::string& data) {
  // Referencing the bank schema links its descriptors into every binary
  // that prints events, so the generated pool can find them by name.
  (void)es::v1::AccountOpened::descriptor();
  const auto* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(type);
  if (descriptor != nullptr) {
    const auto* prototype =
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor);
    std::unique_ptr<google::protobuf::Message> message(prototype->New());
    if (message->ParseFromString(data)) {
      google::protobuf::util::JsonPrintOptions options;
      options.preserve_proto_field_names = true;
      options.always_print_primitive_fields = true;
      std::string json;
      if (google::protobuf::util::MessageToJsonString(*message, &json, options).ok()) return json;
    }
  }
  return JsonQuote(Base64(data));
}

std::string EventToJson(const es::v1::EventRecord& event) {
  std::string out = "{\"global_position\":" + std::to_string(event.global_position());
  out += ",\"stream_id\":" + JsonQuote(event.stream_id());
  out += ",\"stream_version\":" + std::to_string(event.stream_version());
  out += ",\"type\":" + JsonQuote(event.type());
  out += ",\"data\":" + PayloadToJson(event.type(), event.data());
  out += ",\"event_id\":" + JsonQuote(event.event_id());
  out += ",\"command_id\":" + JsonQuote(event.command_id());
  out += ",\"recorded_at_us\":" + std::to_string(event.recorded_at_us());
  out += "}";
  return out;
}

std::string EventToText(const es::v1::EventRecord& event) {
  return "#" + std::to_string(event.global_position()) + " " + event.stream_id() + "@" +
         std::to_string(event.stream_version()) + " " + event.type() + " " +
         PayloadToJson(event.type(), event.data());
}

}  // namespace es::bus
