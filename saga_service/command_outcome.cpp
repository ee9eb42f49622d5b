#include "saga_service/command_outcome.h"

#include <algorithm>

namespace es::saga {
namespace {

using es::v1::RefusalCode;

constexpr std::chrono::milliseconds kFirstBackoff{10};
constexpr std::chrono::milliseconds kMaxBackoff{1000};

JudgedReply Done() { return {CommandVerdict::kDone, std::nullopt}; }
JudgedReply Retry() { return {CommandVerdict::kRetry, std::nullopt}; }

std::string Describe(const es::v1::CommandOutcome& outcome) {
  return std::string(es::v1::RefusalCode_Name(outcome.refusal_code())) + " (" + outcome.message() +
         ")";
}

JudgedReply JudgeRefusal(const es::v1::CommandOutcome& outcome) {
  switch (outcome.refusal_code()) {
    case es::v1::REFUSAL_CODE_CONFLICT:
    case es::v1::REFUSAL_CODE_UNAVAILABLE:
      return Retry();
    case es::v1::REFUSAL_CODE_INVALID_STATE:
      // The saga only sends a step its previous step's event called for.
      return {CommandVerdict::kDone, "refused " + Describe(outcome)};
    case es::v1::REFUSAL_CODE_INVALID_ARGUMENT:
    case es::v1::REFUSAL_CODE_INVALID_AMOUNT:
    case es::v1::REFUSAL_CODE_OVERFLOW:
    case es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT:
    case es::v1::REFUSAL_CODE_UNKNOWN_TRANSFER:
    case es::v1::REFUSAL_CODE_ALREADY_EXISTS:
    case es::v1::REFUSAL_CODE_INSUFFICIENT_FUNDS:
    case es::v1::REFUSAL_CODE_ACCOUNT_CLOSED:
    case es::v1::REFUSAL_CODE_NONZERO_BALANCE:
    case es::v1::REFUSAL_CODE_SAME_ACCOUNT:
      return Done();
    default:
      // An unspecified or unknown code: giving up could strand a transfer
      // half-way, so keep trying (visibly) until someone looks.
      return {CommandVerdict::kRetry, "refused with an unknown code: " + Describe(outcome)};
  }
}

}  // namespace

JudgedReply JudgeCommandReply(const std::optional<es::v1::CommandReply>& reply) {
  if (!reply) return Retry();
  if (reply->has_error()) {
    return {CommandVerdict::kRetry, "error reply " +
                                        std::string(es::v1::ErrorCode_Name(reply->error().code())) +
                                        " (" + reply->error().message() + ")"};
  }
  if (!reply->has_outcome()) return {CommandVerdict::kRetry, "a reply without an outcome"};
  const es::v1::CommandOutcome& outcome = reply->outcome();
  if (outcome.accepted() || outcome.events_written() > 0) return Done();
  return JudgeRefusal(outcome);
}

std::chrono::milliseconds RetryBackoff(uint32_t failed_attempts) {
  const uint32_t doublings = std::min<uint32_t>(failed_attempts > 0 ? failed_attempts - 1 : 0, 16);
  return std::min(kFirstBackoff * (int64_t{1} << doublings), kMaxBackoff);
}

}  // namespace es::saga
