// What bus/ writes and reads on the wire besides protobuf: the request id a
// pipelining client reads off a reply without decoding it twice, and the
// UUIDs writers give events.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <zmq.hpp>

#include "bus/async_rpc.h"
#include "bus/ids.h"
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

TEST(ReadReplyHead, TellsTheReplysBodyWithoutDecodingIt) {
  es::v1::StoreReply appended;
  appended.set_request_id(9);
  appended.mutable_append()->set_stream_id("s");
  std::optional<ReplyHead> head = ReadReplyHead(Body(appended));
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->request_id, 9u);
  EXPECT_EQ(head->body_field, static_cast<uint32_t>(es::v1::StoreReply::kAppend));

  es::v1::StoreReply refused;
  refused.set_request_id(10);
  refused.mutable_error()->set_message("no");
  head = ReadReplyHead(Body(refused));
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->body_field, static_cast<uint32_t>(es::v1::StoreReply::kError));

  es::v1::StoreReply empty;  // a request id and no body
  empty.set_request_id(11);
  head = ReadReplyHead(Body(empty));
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->body_field, 0u);
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

TEST(NewUuid, IsARandomVersion4UuidInCanonicalForm) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewUuid();
    ASSERT_EQ(id.size(), 36u) << id;
    for (size_t at = 0; at < id.size(); ++at) {
      if (at == 8 || at == 13 || at == 18 || at == 23) {
        ASSERT_EQ(id[at], '-') << id;
      } else {
        ASSERT_TRUE((id[at] >= '0' && id[at] <= '9') || (id[at] >= 'a' && id[at] <= 'f')) << id;
      }
    }
    EXPECT_EQ(id[14], '4') << id;                                          // version
    EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;  // variant
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace es::bus
