// The saga's control API without a socket: one request as the control
// ROUTER hands it over (AnswerSagaRequest). Input: u8 flags (bit 0: the
// framing was bad), then the body frame.
//
// Invariants: every request gets a reply that serializes; a request that
// parses has its request_id echoed; anything but ping or stats is a
// BAD_REQUEST error.
#include <cstdint>
#include <string>

#include "saga_service/saga_control.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  es::fuzz::FuzzInput input(data, size);
  const uint8_t flags = input.Int<uint8_t>();
  const std::string_view body = input.Rest();
  es::bus::RoutedRequest request;
  request.identity = zmq::message_t("peer", 4);
  request.body = zmq::message_t(body.data(), body.size());
  if (flags & 1) request.frame_error = "wrong number of frames";
  int stats_asked = 0;
  const es::v1::SagaReply reply = es::saga::AnswerSagaRequest(request, 42, [&] {
    ++stats_asked;
    es::v1::SagaStats stats;
    stats.set_checkpoint(42);
    return stats;
  });
  std::string bytes;
  if (!reply.SerializeToString(&bytes)) es::fuzz::Fail("the reply does not serialize");
  es::v1::SagaRequest parsed;
  const bool parses = !(flags & 1) && parsed.ParseFromArray(body.data(), static_cast<int>(body.size()));
  if (parses && reply.request_id() != parsed.request_id()) es::fuzz::Fail("request_id not echoed");
  const bool known = parses && (parsed.has_ping() || parsed.has_stats());
  if (!known && (!reply.has_error() || reply.error().code() != es::v1::ERROR_CODE_BAD_REQUEST)) {
    es::fuzz::Fail("a bad request was not refused BAD_REQUEST: " + reply.ShortDebugString());
  }
  if (known && reply.has_error()) es::fuzz::Fail("a good request was refused");
  if (stats_asked > 1) es::fuzz::Fail("stats asked twice for one request");
  return 0;
}
