// The control API (saga.proto): answers one SagaRequest received on the
// control ROUTER. Pure apart from the callback, so it is testable without a
// socket.
#pragma once

#include <cstdint>
#include <functional>

#include "bus/router_frames.h"
#include "es/v1/saga.pb.h"

namespace es::saga {

inline constexpr const char* kServiceName = "saga_service";

// ping  -> Pong{head_position = checkpoint, service = "saga_service"};
// stats -> stats();
// a request with bad framing, that does not parse, or with no body ->
// Error{BAD_REQUEST, what is wrong}. The request_id is echoed whenever the
// request parsed.
es::v1::SagaReply AnswerSagaRequest(const es::bus::RoutedRequest& request, uint64_t checkpoint,
                                    const std::function<es::v1::SagaStats()>& stats);

}  // namespace es::saga
