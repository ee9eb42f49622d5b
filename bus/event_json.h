// JSON renderings shared by esctl, listeners and tests.
#pragma once

#include <string>
#include <string_view>

#include "es/v1/event.pb.h"

namespace es::bus {

// `text` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view text);

// The payload of an event as JSON: the decoded message when `type` names a
// message this binary knows (e.g. "es.v1.AccountOpened"), with snake_case
// keys; otherwise the bytes as a base64 JSON string.
std::string PayloadToJson(const std::string& type, const std::string& data);

// One event as a single-line JSON object:
// {"global_position","stream_id","stream_version","type","data",
//  "event_id","command_id","recorded_at_us"}; numbers are JSON numbers.
std::string EventToJson(const es::v1::EventRecord& event);

// One event as a line for people: "#pos stream@version type data".
std::string EventToText(const es::v1::EventRecord& event);

}  // namespace es::bus
