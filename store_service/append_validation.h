// The checks every storage engine applies to an append before touching its
// log. They depend only on the request (and, for the expected version, on
// the stream's current version), so a second engine reuses them unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "es/v1/store.pb.h"
#include "store_service/status.h"

namespace es::store {

// Size limits for one append. Over a limit is TOO_LARGE; malformed is
// BAD_REQUEST.
struct AppendLimits {
  // Longest stream id, command id, event id or event type, in bytes.
  size_t max_id_bytes = 256;
  // Most events in one append.
  size_t max_events = 10'000;
  // Most bytes in one append: the sum over its events of id, type and data.
  size_t max_payload_bytes = size_t{4} << 20;
};

// Returns ok when `request` is well formed and within `limits`; otherwise
// BAD_REQUEST (empty or over-long id, a stream id starting with a control
// byte < 0x20 — reserved for control topics such as heartbeats — no events,
// no expected version, no command id, an event without id or type) or
// TOO_LARGE (too many events or bytes), with a message naming the field.
Status ValidateAppend(const es::v1::AppendRequest& request, const AppendLimits& limits);

// Returns ok when a stream at `current_version` (0 = no stream) satisfies
// `expected`; otherwise WRONG_EXPECTED_VERSION with a message naming both
// versions. `expected` must have a kind set (ValidateAppend checks that).
Status CheckExpectedVersion(const es::v1::ExpectedVersion& expected, std::string_view stream_id,
                            uint64_t current_version);

}  // namespace es::store
