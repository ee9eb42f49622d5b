// Which answers from command_service end a saga step, and which make the saga
// send the same command again.
#include <gtest/gtest.h>

#include <chrono>

#include "saga_service/command_outcome.h"

namespace es::saga {
namespace {

using es::v1::CommandReply;

CommandReply Accepted() {
  CommandReply reply;
  reply.mutable_outcome()->set_accepted(true);
  reply.mutable_outcome()->set_events_written(1);
  return reply;
}

CommandReply Refused(es::v1::RefusalCode code, uint32_t events_written = 0) {
  CommandReply reply;
  reply.mutable_outcome()->set_accepted(false);
  reply.mutable_outcome()->set_refusal_code(code);
  reply.mutable_outcome()->set_events_written(events_written);
  reply.mutable_outcome()->set_message("because");
  return reply;
}

TEST(SagaCommandOutcome, AcceptedIsDone) {
  const JudgedReply judged = JudgeCommandReply(Accepted());
  EXPECT_EQ(judged.verdict, CommandVerdict::kDone);
  EXPECT_FALSE(judged.surprise);
}

TEST(SagaCommandOutcome, ARecordedRefusalIsDone) {
  const JudgedReply judged =
      JudgeCommandReply(Refused(es::v1::REFUSAL_CODE_INSUFFICIENT_FUNDS, /*events_written=*/1));
  EXPECT_EQ(judged.verdict, CommandVerdict::kDone);
  EXPECT_FALSE(judged.surprise);
}

TEST(SagaCommandOutcome, FinalRefusalsAreDone) {
  for (auto code : {es::v1::REFUSAL_CODE_INVALID_ARGUMENT, es::v1::REFUSAL_CODE_INVALID_AMOUNT,
                    es::v1::REFUSAL_CODE_OVERFLOW, es::v1::REFUSAL_CODE_UNKNOWN_ACCOUNT,
                    es::v1::REFUSAL_CODE_UNKNOWN_TRANSFER, es::v1::REFUSAL_CODE_ALREADY_EXISTS,
                    es::v1::REFUSAL_CODE_INSUFFICIENT_FUNDS, es::v1::REFUSAL_CODE_ACCOUNT_CLOSED,
                    es::v1::REFUSAL_CODE_NONZERO_BALANCE, es::v1::REFUSAL_CODE_SAME_ACCOUNT}) {
    const JudgedReply judged = JudgeCommandReply(Refused(code));
    EXPECT_EQ(judged.verdict, CommandVerdict::kDone) << es::v1::RefusalCode_Name(code);
    EXPECT_FALSE(judged.surprise) << es::v1::RefusalCode_Name(code);
  }
}

TEST(SagaCommandOutcome, InvalidStateIsDoneButSurprising) {
  const JudgedReply judged = JudgeCommandReply(Refused(es::v1::REFUSAL_CODE_INVALID_STATE));
  EXPECT_EQ(judged.verdict, CommandVerdict::kDone);
  ASSERT_TRUE(judged.surprise);
  EXPECT_NE(judged.surprise->find("INVALID_STATE"), std::string::npos) << *judged.surprise;
  EXPECT_NE(judged.surprise->find("because"), std::string::npos) << *judged.surprise;
}

TEST(SagaCommandOutcome, TransientRefusalsAreRetried) {
  for (auto code : {es::v1::REFUSAL_CODE_CONFLICT, es::v1::REFUSAL_CODE_UNAVAILABLE}) {
    const JudgedReply judged = JudgeCommandReply(Refused(code));
    EXPECT_EQ(judged.verdict, CommandVerdict::kRetry) << es::v1::RefusalCode_Name(code);
    EXPECT_FALSE(judged.surprise);
  }
}

TEST(SagaCommandOutcome, NoReplyIsRetried) {
  EXPECT_EQ(JudgeCommandReply(std::nullopt).verdict, CommandVerdict::kRetry);
}

TEST(SagaCommandOutcome, AnErrorReplyIsRetriedAndSurprising) {
  CommandReply reply;
  reply.mutable_error()->set_code(es::v1::ERROR_CODE_UNAVAILABLE);
  const JudgedReply judged = JudgeCommandReply(reply);
  EXPECT_EQ(judged.verdict, CommandVerdict::kRetry);
  EXPECT_TRUE(judged.surprise);
}

TEST(SagaCommandOutcome, UnknownAnswersAreRetriedAndSurprising) {
  CommandReply pong;
  pong.mutable_pong();
  for (const CommandReply& reply : {pong, Refused(es::v1::REFUSAL_CODE_UNSPECIFIED)}) {
    const JudgedReply judged = JudgeCommandReply(reply);
    EXPECT_EQ(judged.verdict, CommandVerdict::kRetry) << reply.DebugString();
    EXPECT_TRUE(judged.surprise) << reply.DebugString();
  }
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
