// bus::LeadingRequestId: how a pipelining client matches a reply to its
// request without decoding the reply twice.
#include <gtest/gtest.h>

#include <zmq.hpp>

#include "bus/async_rpc.h"
#include "es/v1/command.pb.h"
#include "es/v1/store.pb.h"

namespace es::bus {
namespace {

zmq::message_t Body(const google::protobuf::Message& message) {
  const std::string bytes = message.SerializeAsString();
  return zmq::message_t(bytes.data(), bytes.size());
}

TEST(LeadingRequestId, ReadsTheRequestIdOfAnyReply) {
  es::v1::StoreReply store;
  store.set_request_id(7);
  store.mutable_append()->set_stream_id("s");
  EXPECT_EQ(LeadingRequestId(Body(store)), 7u);

  es::v1::CommandReply command;
  command.set_request_id(uint64_t{1} << 40);
  command.mutable_outcome()->set_accepted(true);
  EXPECT_EQ(LeadingRequestId(Body(command)), uint64_t{1} << 40);
}

TEST(LeadingRequestId, IsNothingWhenTheIdIsAbsentOrTheBytesAreNotAMessage) {
  es::v1::StoreReply no_id;  // request_id 0 is not serialized
  no_id.mutable_pong()->set_service("store_service");
  EXPECT_EQ(LeadingRequestId(Body(no_id)), std::nullopt);
  EXPECT_EQ(LeadingRequestId(zmq::message_t()), std::nullopt);
  const std::string truncated = "\x08\xff\xff";  // field 1, a varint cut short
  EXPECT_EQ(LeadingRequestId(zmq::message_t(truncated.data(), truncated.size())), std::nullopt);
  const std::string text = "not protobuf";
  EXPECT_EQ(LeadingRequestId(zmq::message_t(text.data(), text.size())), std::nullopt);
}

}  // namespace
}  // namespace es::bus
