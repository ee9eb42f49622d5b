// What the saga makes of command_service's answer to one of its commands.
//
// Done: the command was accepted, or refused for good (a refusal recorded as
// an event, such as insufficient funds, or a final refusal code). The saga
// moves on; its next step, if any, arrives as an event.
// Retry: no usable answer, an Error reply, or a refusal that says "not now"
// (CONFLICT, UNAVAILABLE). The same command, with the same id, is sent again
// after a backoff; the id makes the repetition harmless.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "es/v1/command.pb.h"

namespace es::saga {

enum class CommandVerdict { kDone, kRetry };

struct JudgedReply {
  CommandVerdict verdict = CommandVerdict::kRetry;
  // Set when the answer means something is off and deserves an operator's
  // attention (a refusal the saga should never meet, an Error reply, an
  // unknown refusal code): a one-line description.
  std::optional<std::string> surprise;
};

// `reply` is nullopt when no (parseable) reply came.
JudgedReply JudgeCommandReply(const std::optional<es::v1::CommandReply>& reply);

// How long to wait before sending a command again after `failed_attempts`
// (>= 1) attempts: 10 ms doubling per attempt, at most 1 s.
std::chrono::milliseconds RetryBackoff(uint32_t failed_attempts);

}  // namespace es::saga
