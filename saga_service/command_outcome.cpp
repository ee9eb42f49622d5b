#include "saga_service/command_outcome.h"

#include <algorithm>

#include "domain/stream_ids.h"

namespace es::saga {
namespace {

using es::v1::RefusalCode;

constexpr std::chrono::milliseconds kFirstBackoff{10};
constexpr std::chrono::milliseconds kMaxBackoff{1000};

JudgedReply Done() { return {CommandVerdict::kDone, std::nullopt}; }
JudgedReply Retry(std::string why) { return {CommandVerdict::kRetry, std::move(why)}; }
JudgedReply Park(std::string why) { return {CommandVerdict::kPark, std::move(why)}; }

std::string Describe(const es::v1::CommandOutcome& outcome) {
  return std::string(es::v1::RefusalCode_Name(outcome.refusal_code())) + " (" + outcome.message() +
         ")";
}

JudgedReply JudgeError(const es::v1::Error& error) {
  // RefusalCode_Name/ErrorCode_Name give "" for a number this build does not
  // know: show the number too.
  const std::string what = "error reply " + std::string(es::v1::ErrorCode_Name(error.code())) +
                           "/" + std::to_string(error.code()) + " (" + error.message() + ")";
  switch (error.code()) {
    case es::v1::ERROR_CODE_UNAVAILABLE:
    case es::v1::ERROR_CODE_STORAGE_FULL:
    case es::v1::ERROR_CODE_STORAGE_FAILURE:
      return Retry(what);
    default:
      // The service judged the request itself bad: sending it again soon
      // would get the same answer.
      return Park(what);
  }
}

}  // namespace

JudgedReply JudgeCommandReply(const es::v1::Command& command,
                              const std::optional<es::v1::CommandReply>& reply) {
  if (!reply) return Retry("no parseable reply");
  if (reply->has_error()) return JudgeError(reply->error());
  if (!reply->has_outcome()) return Park("a reply without an outcome");
  const es::v1::CommandOutcome& outcome = reply->outcome();
  // An outcome is about the stream it names. A command id first used on
  // another stream is answered with that stream's append: the saga's step
  // did not happen.
  const std::optional<std::string> stream = es::domain::StreamOfCommand(command);
  if (!outcome.stream_id().empty() && stream && outcome.stream_id() != *stream) {
    return Park("answered for stream " + outcome.stream_id() + ", not " + *stream +
                ": the command id was used for another command");
  }
  if (outcome.accepted()) {
    if (outcome.events_written() > 0 || outcome.duplicate()) return Done();
    // The step wrote nothing, so no event will carry the transfer on.
    return Park("accepted without an effect (no event written, not a repeat)");
  }
  if (outcome.events_written() > 0) return Done();  // a refusal recorded as an event
  switch (outcome.refusal_code()) {
    case es::v1::REFUSAL_CODE_CONFLICT:
    case es::v1::REFUSAL_CODE_UNAVAILABLE:
      return Retry("refused " + Describe(outcome));
    default:
      // Every other refusal that writes nothing, including codes this build
      // does not know (shown as their number).
      return Park("refused " + Describe(outcome) + " code " +
                  std::to_string(outcome.refusal_code()) + ", nothing recorded");
  }
}

std::string TransferOfCommand(const es::v1::Command& command) {
  using es::v1::Command;
  switch (command.body_case()) {
    case Command::kDebitAccountBecauseOfMoneyTransfer:
      return command.debit_account_because_of_money_transfer().transfer_id();
    case Command::kCreditAccountBecauseOfMoneyTransfer:
      return command.credit_account_because_of_money_transfer().transfer_id();
    case Command::kRefundAccountBecauseOfMoneyTransfer:
      return command.refund_account_because_of_money_transfer().transfer_id();
    case Command::kCreateMoneyTransfer:
      return command.create_money_transfer().transfer_id();
    case Command::kDebitMoneyTransfer:
      return command.debit_money_transfer().transfer_id();
    case Command::kCompleteMoneyTransfer:
      return command.complete_money_transfer().transfer_id();
    case Command::kFailMoneyTransfer:
      return command.fail_money_transfer().transfer_id();
    default:
      return "";
  }
}

std::chrono::milliseconds RetryBackoff(uint32_t failed_attempts) {
  const uint32_t doublings = std::min<uint32_t>(failed_attempts > 0 ? failed_attempts - 1 : 0, 16);
  return std::min(kFirstBackoff * (int64_t{1} << doublings), kMaxBackoff);
}

}  // namespace es::saga
