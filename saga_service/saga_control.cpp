#include "saga_service/saga_control.h"

#include <unistd.h>

#include <climits>
#include <string>

namespace es::saga {
namespace {

// A ping or a stats request is a few bytes; nothing bigger is decoded.
constexpr size_t kMaxControlRequestBytes = 4096;

es::v1::SagaReply ErrorReply(uint64_t request_id, es::v1::ErrorCode code, std::string message) {
  es::v1::SagaReply reply;
  reply.set_request_id(request_id);
  reply.mutable_error()->set_code(code);
  reply.mutable_error()->set_message(std::move(message));
  return reply;
}

es::v1::SagaReply BadRequest(uint64_t request_id, std::string message) {
  return ErrorReply(request_id, es::v1::ERROR_CODE_BAD_REQUEST, std::move(message));
}

}  // namespace

es::v1::SagaReply AnswerSagaRequest(const es::bus::RoutedRequest& request, uint64_t checkpoint,
                                    const std::function<es::v1::SagaStats()>& stats) {
  if (request.frame_error) return BadRequest(0, *request.frame_error);
  if (request.body.size() > kMaxControlRequestBytes) {
    return ErrorReply(0, es::v1::ERROR_CODE_TOO_LARGE,
                      "the request is " + std::to_string(request.body.size()) +
                          " bytes, the limit is " + std::to_string(kMaxControlRequestBytes));
  }
  es::v1::SagaRequest parsed;
  if (request.body.size() > static_cast<size_t>(INT_MAX) ||
      !parsed.ParseFromArray(request.body.data(), static_cast<int>(request.body.size()))) {
    return BadRequest(0, "the body is not a SagaRequest");
  }
  es::v1::SagaReply reply;
  reply.set_request_id(parsed.request_id());
  switch (parsed.body_case()) {
    case es::v1::SagaRequest::kPing:
      reply.mutable_pong()->set_head_position(checkpoint);
      reply.mutable_pong()->set_service(kServiceName);
      reply.mutable_pong()->set_pid(static_cast<uint32_t>(::getpid()));
      return reply;
    case es::v1::SagaRequest::kStats:
      *reply.mutable_stats() = stats();
      return reply;
    default:
      return BadRequest(parsed.request_id(), "the SagaRequest has no body (ping or stats)");
  }
}

}  // namespace es::saga
