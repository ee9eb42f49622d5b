#include "store_service/append_validation.h"

#include <string>

namespace es::store {
namespace {

Status BadRequest(std::string message) {
  return Status(es::v1::ERROR_CODE_BAD_REQUEST, std::move(message));
}

Status TooLarge(std::string message) {
  return Status(es::v1::ERROR_CODE_TOO_LARGE, std::move(message));
}

// Checks that an id is present and not over the limit. `what` names it,
// and is only called on failure, so the happy path builds no strings.
template <typename NameFn>
Status CheckId(std::string_view id, const NameFn& what, const AppendLimits& limits) {
  if (id.empty()) return BadRequest(what() + " is empty");
  if (id.size() > limits.max_id_bytes) {
    return BadRequest(what() + " is " + std::to_string(id.size()) + " bytes, the limit is " +
                      std::to_string(limits.max_id_bytes));
  }
  return Status::Ok();
}

auto Named(const char* name) {
  return [name] { return std::string(name); };
}

auto EventField(int index, const char* field) {
  return [index, field] { return "events[" + std::to_string(index) + "]." + field; };
}

}  // namespace

Status ValidateAppend(const es::v1::AppendRequest& request, const AppendLimits& limits) {
  if (Status s = CheckId(request.stream_id(), Named("stream_id"), limits); !s.ok()) return s;
  if (static_cast<unsigned char>(request.stream_id()[0]) < 0x20) {
    return BadRequest("stream_id starts with a control byte (< 0x20), reserved for control topics");
  }
  if (Status s = CheckId(request.command_id(), Named("command_id"), limits); !s.ok()) return s;
  if (!request.has_expected_version() ||
      request.expected_version().kind_case() == es::v1::ExpectedVersion::KIND_NOT_SET) {
    return BadRequest("expected_version is not set: give exact, any or no_stream");
  }
  if (request.events().empty()) return BadRequest("the append has no events");
  if (static_cast<size_t>(request.events_size()) > limits.max_events) {
    return TooLarge("the append has " + std::to_string(request.events_size()) +
                    " events, the limit is " + std::to_string(limits.max_events));
  }
  size_t payload_bytes = 0;
  for (int i = 0; i < request.events_size(); ++i) {
    const es::v1::NewEvent& event = request.events(i);
    if (Status s = CheckId(event.event_id(), EventField(i, "event_id"), limits); !s.ok()) return s;
    if (Status s = CheckId(event.type(), EventField(i, "type"), limits); !s.ok()) return s;
    payload_bytes += event.event_id().size() + event.type().size() + event.data().size();
  }
  if (payload_bytes > limits.max_payload_bytes) {
    return TooLarge("the append is " + std::to_string(payload_bytes) + " bytes, the limit is " +
                    std::to_string(limits.max_payload_bytes));
  }
  return Status::Ok();
}

Status CheckExpectedVersion(const es::v1::ExpectedVersion& expected, std::string_view stream_id,
                            uint64_t current_version) {
  auto refuse = [&](const std::string& wanted) {
    return Status(es::v1::ERROR_CODE_WRONG_EXPECTED_VERSION,
                  "stream '" + std::string(stream_id) + "' is at version " +
                      std::to_string(current_version) + ", the append expected " + wanted);
  };
  switch (expected.kind_case()) {
    case es::v1::ExpectedVersion::kAny:
      return Status::Ok();
    case es::v1::ExpectedVersion::kNoStream:
      if (current_version != 0) return refuse("no stream (version 0)");
      return Status::Ok();
    case es::v1::ExpectedVersion::kExact:
      if (current_version != expected.exact()) {
        return refuse("version " + std::to_string(expected.exact()));
      }
      return Status::Ok();
    case es::v1::ExpectedVersion::KIND_NOT_SET:
      break;
  }
  return BadRequest("expected_version is not set: give exact, any or no_stream");
}

}  // namespace es::store
