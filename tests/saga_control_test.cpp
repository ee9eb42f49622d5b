// The control API answers ping and stats, and a clear error to anything else.
#include "saga_service/saga_control.h"

#include <gtest/gtest.h>

namespace es::saga {
namespace {

es::bus::RoutedRequest Routed(const std::string& body) {
  es::bus::RoutedRequest request;
  request.body = zmq::message_t(body.data(), body.size());
  return request;
}

es::v1::SagaStats SampleStats() {
  es::v1::SagaStats stats;
  stats.set_checkpoint(7);
  stats.set_transfers_completed(3);
  return stats;
}

TEST(SagaControl, PingAnswersTheCheckpoint) {
  es::v1::SagaRequest request;
  request.set_request_id(42);
  request.mutable_ping();
  const es::v1::SagaReply reply =
      AnswerSagaRequest(Routed(request.SerializeAsString()), 7, SampleStats);
  EXPECT_EQ(reply.request_id(), 42u);
  ASSERT_TRUE(reply.has_pong());
  EXPECT_EQ(reply.pong().head_position(), 7u);
  EXPECT_EQ(reply.pong().service(), "saga_service");
}

TEST(SagaControl, StatsAnswersTheStats) {
  es::v1::SagaRequest request;
  request.set_request_id(43);
  request.mutable_stats();
  const es::v1::SagaReply reply =
      AnswerSagaRequest(Routed(request.SerializeAsString()), 7, SampleStats);
  EXPECT_EQ(reply.request_id(), 43u);
  ASSERT_TRUE(reply.has_stats());
  EXPECT_EQ(reply.stats().transfers_completed(), 3u);
}

TEST(SagaControl, MalformedRequestsGetBadRequest) {
  es::v1::SagaRequest empty;
  empty.set_request_id(44);
  es::bus::RoutedRequest badly_framed;
  badly_framed.frame_error = "expected one body frame";
  const std::vector<std::pair<std::string, es::bus::RoutedRequest>> cases = [&] {
    std::vector<std::pair<std::string, es::bus::RoutedRequest>> all;
    all.emplace_back("undecodable", Routed("\xff\xff\xff"));
    all.emplace_back("no body", Routed(empty.SerializeAsString()));
    all.emplace_back("bad framing", std::move(badly_framed));
    return all;
  }();
  for (const auto& [name, request] : cases) {
    const es::v1::SagaReply reply = AnswerSagaRequest(request, 7, SampleStats);
    ASSERT_TRUE(reply.has_error()) << name;
    EXPECT_EQ(reply.error().code(), es::v1::ERROR_CODE_BAD_REQUEST) << name;
    EXPECT_FALSE(reply.error().message().empty()) << name;
  }
  EXPECT_EQ(AnswerSagaRequest(Routed(empty.SerializeAsString()), 7, SampleStats).request_id(), 44u);
}

TEST(SagaControl, ARequestOverFourKibibytesIsTooLargeAndNotDecoded) {
  // A ping padded with an unknown field: decodable, but no control request
  // is that big, so it is refused before decoding.
  es::v1::SagaRequest ping;
  ping.set_request_id(45);
  ping.mutable_ping();
  std::string body = ping.SerializeAsString();
  body += std::string("\xfa\x3f") + "\x80\x20" + std::string(4096, 'x');  // field 1023, 4096 bytes

  const es::v1::SagaReply reply = AnswerSagaRequest(Routed(body), 7, SampleStats);

  ASSERT_TRUE(reply.has_error()) << reply.DebugString();
  EXPECT_EQ(reply.error().code(), es::v1::ERROR_CODE_TOO_LARGE);
  EXPECT_NE(reply.error().message().find("4096"), std::string::npos) << reply.error().message();
}

}  // namespace
}  // namespace es::saga
