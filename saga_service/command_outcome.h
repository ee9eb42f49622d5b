// What the saga makes of command_service's answer to one of its commands.
//
// The saga expects exactly two answers to a step: accepted (a duplicate
// included: the same command, answered again), or a refusal recorded as an
// event (insufficient funds on the debit, a refused credit). Either way the
// step took effect on its own stream and the next step arrives as an event.
// Anything else is an alarm, never done:
//
// Retry: a "not now" answer (no parseable reply, CONFLICT, UNAVAILABLE, an
// Error saying the service or its storage is unavailable). The same command,
// with the same id, is sent again after a backoff.
// Park: an answer that will not change by asking again soon (INVALID_STATE,
// COMMAND_ID_CONFLICT, STREAM_CORRUPT, an unknown account, an unknown code,
// an outcome for another stream, "accepted" with no effect, a malformed
// reply...). Treating it as done would strand the transfer half-way without a
// trace; so the transfer is listed as parked and its command is sent again
// at a slow interval, so that it finishes once the cause is repaired.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "es/v1/command.pb.h"

namespace es::saga {

enum class CommandVerdict { kDone, kRetry, kPark };

struct JudgedReply {
  CommandVerdict verdict = CommandVerdict::kRetry;
  // Set for every answer the saga did not expect (every kRetry and kPark): a
  // one-line description for the log.
  std::optional<std::string> alarm;
};

// Judges `reply` to `command`; `reply` is nullopt when no (parseable) reply
// came.
JudgedReply JudgeCommandReply(const es::v1::Command& command,
                              const std::optional<es::v1::CommandReply>& reply);

// The transfer a saga command belongs to ("" if it names none), for logs and
// the list of parked transfers.
std::string TransferOfCommand(const es::v1::Command& command);

// How long to wait before sending a command again after `failed_attempts`
// (>= 1) attempts: 10 ms doubling per attempt, at most 1 s.
std::chrono::milliseconds RetryBackoff(uint32_t failed_attempts);

}  // namespace es::saga
