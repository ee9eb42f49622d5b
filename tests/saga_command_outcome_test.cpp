// Which answers from command_service end a saga step, which make the saga
// send the same command again soon, and which park the transfer: only the
// two answers a step expects are done; every other answer is an alarm.
#include <gtest/gtest.h>

#include <chrono>

#include "saga_service/command_outcome.h"

namespace es::saga {
namespace {

using es::v1::Command;
using es::v1::CommandReply;

// The saga's credit step of transfer T1 to account B: stream account-B.
Command Credit() {
  Command command;
  command.set_command_id("saga-event-1");
  auto* credit = command.mutable_credit_account_because_of_money_transfer();
  credit->set_account_id("B");
  credit->set_transfer_id("T1");
  credit->set_amount(100);
  credit->set_source_account("A");
  return command;
}

CommandReply Accepted(const std::string& stream = "account-B", uint32_t events_written = 1,
                      bool duplicate = false) {
  CommandReply reply;
  reply.mutable_outcome()->set_accepted(true);
  reply.mutable_outcome()->set_stream_id(stream);
  reply.mutable_outcome()->set_events_written(events_written);
  reply.mutable_outcome()->set_duplicate(duplicate);
  return reply;
}

CommandReply Refused(es::v1::RefusalCode code, uint32_t events_written = 0,
                     const std::string& stream = "") {
  CommandReply reply;
  reply.mutable_outcome()->set_accepted(false);
  reply.mutable_outcome()->set_refusal_code(code);
  reply.mutable_outcome()->set_events_written(events_written);
  reply.mutable_outcome()->set_stream_id(stream);
  reply.mutable_outcome()->set_message("because");
  return reply;
}

TEST(SagaCommandOutcome, AcceptedIsDone) {
  const JudgedReply judged = JudgeCommandReply(Credit(), Accepted());
  EXPECT_EQ(judged.verdict, CommandVerdict::kDone);
  EXPECT_FALSE(judged.alarm);
}

TEST(SagaCommandOutcome, ARepeatOfTheSameCommandIsDone) {
  // A replay after a crash: the first append's outcome, on the same stream.
  for (uint32_t written : {0u, 1u}) {
    const JudgedReply judged =
        JudgeCommandReply(Credit(), Accepted("account-B", written, /*duplicate=*/true));
    EXPECT_EQ(judged.verdict, CommandVerdict::kDone) << written;
    EXPECT_FALSE(judged.alarm);
  }
}

TEST(SagaCommandOutcome, ARecordedRefusalIsDone) {
  // A refused credit (closed target) or a debit's insufficient funds: the
  // refusal is an event, which carries the transfer on (refund, fail).
  for (auto code : {es::v1::REFUSAL_CODE_INSUFFICIENT_FUNDS, es::v1::REFUSAL_CODE_ACCOUNT_CLOSED,
                    es::v1::REFUSAL_CODE_OVERFLOW}) {
    const JudgedReply judged = JudgeCommandReply(Credit(), Refused(code, 1, "account-B"));
    EXPECT_EQ(judged.verdict, CommandVerdict::kDone) << es::v1::RefusalCode_Name(code);
    EXPECT_FALSE(judged.alarm);
  }
}

TEST(SagaCommandOutcome, AnIdAnsweredForAnotherStreamParks) {
  // Today's command_service answers a command id first used on another
  // stream "accepted, duplicate" with that stream's append: the step did not
  // happen, and taking it as done stranded the transfer in Created.
  const JudgedReply judged =
      JudgeCommandReply(Credit(), Accepted("account-C", 1, /*duplicate=*/true));
  EXPECT_EQ(judged.verdict, CommandVerdict::kPark);
  ASSERT_TRUE(judged.alarm);
  EXPECT_NE(judged.alarm->find("account-C"), std::string::npos) << *judged.alarm;
  // A recorded refusal on another stream is no more the step's.
  EXPECT_EQ(
      JudgeCommandReply(Credit(), Refused(es::v1::REFUSAL_CODE_INSUFFICIENT_FUNDS, 1, "account-C"))
          .verdict,
      CommandVerdict::kPark);
}

TEST(SagaCommandOutcome, AcceptedWithoutEffectParks) {
  const JudgedReply judged = JudgeCommandReply(Credit(), Accepted("account-B", 0, false));
  EXPECT_EQ(judged.verdict, CommandVerdict::kPark);
  EXPECT_TRUE(judged.alarm);
}

TEST(SagaCommandOutcome, EveryUnrecordedRefusalParks) {
  // None of these can carry the transfer on, and asking again soon changes
  // nothing; INVALID_STATE was once taken as done, which left the transfer
  // where it was without a trace.
  for (auto code : {es::v1::REFUSAL_CODE_INVALID_STATE, es::v1::REFUSAL_CODE_COMMAND_ID_CONFLICT,
                    es::v1::REFUSAL_CODE_STREAM_CORRUPT, es::v1::REFUSAL_CODE_INVALID_ARGUMENT,
                    es::v1::REFUSAL_CODE_INVALID_AMOUNT, es::v1::REFUSAL_CODE_OVERFLOW,
                    es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT, es::v1::REFUSAL_CODE_UNKNOWN_TRANSFER,
                    es::v1::REFUSAL_CODE_ALREADY_EXISTS, es::v1::REFUSAL_CODE_INSUFFICIENT_FUNDS,
                    es::v1::REFUSAL_CODE_ACCOUNT_CLOSED, es::v1::REFUSAL_CODE_NONZERO_BALANCE,
                    es::v1::REFUSAL_CODE_SAME_ACCOUNT, es::v1::REFUSAL_CODE_UNSPECIFIED,
                    static_cast<es::v1::RefusalCode>(99)}) {
    const JudgedReply judged = JudgeCommandReply(Credit(), Refused(code));
    EXPECT_EQ(judged.verdict, CommandVerdict::kPark) << static_cast<int>(code);
    ASSERT_TRUE(judged.alarm) << static_cast<int>(code);
    EXPECT_NE(judged.alarm->find("because"), std::string::npos) << *judged.alarm;
    EXPECT_NE(judged.alarm->find(std::to_string(static_cast<int>(code))), std::string::npos)
        << *judged.alarm;
  }
}

TEST(SagaCommandOutcome, TransientRefusalsAreRetriedAsAlarms) {
  for (auto code : {es::v1::REFUSAL_CODE_CONFLICT, es::v1::REFUSAL_CODE_UNAVAILABLE}) {
    const JudgedReply judged = JudgeCommandReply(Credit(), Refused(code));
    EXPECT_EQ(judged.verdict, CommandVerdict::kRetry) << es::v1::RefusalCode_Name(code);
    EXPECT_TRUE(judged.alarm);
  }
}

TEST(SagaCommandOutcome, NoReplyIsRetried) {
  const JudgedReply judged = JudgeCommandReply(Credit(), std::nullopt);
  EXPECT_EQ(judged.verdict, CommandVerdict::kRetry);
  EXPECT_TRUE(judged.alarm);
}

TEST(SagaCommandOutcome, AnUnavailableErrorIsRetriedAndABadRequestParks) {
  for (auto code : {es::v1::ERROR_CODE_UNAVAILABLE, es::v1::ERROR_CODE_STORAGE_FULL,
                    es::v1::ERROR_CODE_STORAGE_FAILURE}) {
    CommandReply reply;
    reply.mutable_error()->set_code(code);
    const JudgedReply judged = JudgeCommandReply(Credit(), reply);
    EXPECT_EQ(judged.verdict, CommandVerdict::kRetry) << code;
    EXPECT_TRUE(judged.alarm);
  }
  for (auto code : {es::v1::ERROR_CODE_BAD_REQUEST, es::v1::ERROR_CODE_TOO_LARGE,
                    static_cast<es::v1::ErrorCode>(77)}) {
    CommandReply reply;
    reply.mutable_error()->set_code(code);
    const JudgedReply judged = JudgeCommandReply(Credit(), reply);
    EXPECT_EQ(judged.verdict, CommandVerdict::kPark) << code;
    EXPECT_TRUE(judged.alarm);
  }
}

TEST(SagaCommandOutcome, AReplyWithoutAnOutcomeParks) {
  CommandReply pong;
  pong.mutable_pong();
  const JudgedReply judged = JudgeCommandReply(Credit(), pong);
  EXPECT_EQ(judged.verdict, CommandVerdict::kPark);
  EXPECT_TRUE(judged.alarm);
}

TEST(SagaCommandOutcome, NamesTheTransferOfEverySagaCommand) {
  EXPECT_EQ(TransferOfCommand(Credit()), "T1");
  Command complete;
  complete.mutable_complete_money_transfer()->set_transfer_id("T2");
  EXPECT_EQ(TransferOfCommand(complete), "T2");
  Command open;
  open.mutable_open_account()->set_account_id("A");
  EXPECT_EQ(TransferOfCommand(open), "");
}

TEST(SagaCommandOutcome, BackoffDoublesFromTenMillisecondsUpToOneSecond) {
  using std::chrono::milliseconds;
  EXPECT_EQ(RetryBackoff(1), milliseconds(10));
  EXPECT_EQ(RetryBackoff(2), milliseconds(20));
  EXPECT_EQ(RetryBackoff(3), milliseconds(40));
  EXPECT_EQ(RetryBackoff(7), milliseconds(640));
  EXPECT_EQ(RetryBackoff(8), milliseconds(1000));
  EXPECT_EQ(RetryBackoff(1000000), milliseconds(1000));
}

}  // namespace
}  // namespace es::saga
