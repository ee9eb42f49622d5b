// EncodeLiveEvent and EncodeLiveBatch write the published LiveMessages by
// hand: their bytes must be exactly what protobuf gives for the same
// records, whatever the values (empty strings and zeros are left out in
// proto3, varints of every length).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "es/v1/store.pb.h"
#include "store_service/event_storage.h"
#include "store_service/live_event.h"

namespace es::store {
namespace {

es::v1::AppendRequest AppendOf(std::string stream, std::string command, int events,
                               const std::string& data) {
  es::v1::AppendRequest request;
  request.set_stream_id(std::move(stream));
  request.set_command_id(std::move(command));
  request.mutable_expected_version()->set_any(true);
  for (int i = 0; i < events; ++i) {
    es::v1::NewEvent* event = request.add_events();
    event->set_event_id("event-" + std::to_string(i));
    event->set_type("es.v1.Something");
    event->set_data(data);
  }
  return request;
}

es::v1::AppendResult ResultOf(uint64_t first_version, uint64_t first_position, int events) {
  es::v1::AppendResult result;
  result.set_first_version(first_version);
  result.set_last_version(first_version + static_cast<uint64_t>(events) - 1);
  result.set_first_position(first_position);
  result.set_last_position(first_position + static_cast<uint64_t>(events) - 1);
  return result;
}

// protobuf's bytes for the same event.
std::string Expected(const es::v1::AppendRequest& request, int index,
                     const es::v1::AppendResult& result, int64_t recorded_at_us) {
  es::v1::LiveMessage message;
  FillCommittedRecord(request, index, result, recorded_at_us, message.mutable_event());
  return message.SerializeAsString();
}

std::string Encoded(const es::v1::AppendRequest& request, int index,
                    const es::v1::AppendResult& result, int64_t recorded_at_us) {
  zmq::message_t message =
      EncodeLiveEvent(CommittedEvent{&request, index, &result, recorded_at_us});
  return message.to_string();
}

TEST(LiveEventTest, EncodesEveryEventOfAnAppendAsProtobufWould) {
  const auto request = AppendOf("account-42", "command-7", 3, std::string(200, 'x'));
  const auto result = ResultOf(5, 1'000'000, 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Encoded(request, i, result, 1'700'000'000'123'456),
              Expected(request, i, result, 1'700'000'000'123'456))
        << "event " << i;
  }
  es::v1::LiveMessage parsed;
  ASSERT_TRUE(parsed.ParseFromString(Encoded(request, 2, result, 9)));
  EXPECT_EQ(parsed.event().stream_version(), 7u);
  EXPECT_EQ(parsed.event().global_position(), 1'000'002u);
  EXPECT_EQ(parsed.event().command_id(), "command-7");
  EXPECT_EQ(parsed.event().data(), std::string(200, 'x'));
}

TEST(LiveEventTest, LeavesOutEmptyAndZeroFieldsAsProtobufDoes) {
  const auto request = AppendOf("s", "c", 1, "");  // no data
  EXPECT_EQ(Encoded(request, 0, ResultOf(1, 1, 1), 0), Expected(request, 0, ResultOf(1, 1, 1), 0));
  // A negative time is a ten-byte varint.
  EXPECT_EQ(Encoded(request, 0, ResultOf(1, 1, 1), -1),
            Expected(request, 0, ResultOf(1, 1, 1), -1));
}

TEST(LiveEventTest, WritesLengthsThatTakeSeveralVarintBytes) {
  // A record over 16 KiB needs a three-byte length; huge versions and
  // positions take ten-byte varints.
  const auto request = AppendOf(std::string(200, 's'), "c", 1, std::string(70'000, 'd'));
  const auto result = ResultOf(UINT64_MAX, UINT64_MAX, 1);
  EXPECT_EQ(Encoded(request, 0, result, INT64_MAX), Expected(request, 0, result, INT64_MAX));
}

TEST(LiveEventTest, EncodesABatchAsProtobufWouldAndItParsesBackInOrder) {
  const auto first = AppendOf("account-1", "c1", 2, std::string(150, 'a'));
  const auto second = AppendOf("transfer-9", "c2", 3, "");
  const auto first_result = ResultOf(1, 41, 2);
  const auto second_result = ResultOf(7, 43, 3);
  std::vector<CommittedEvent> events;
  es::v1::LiveMessage expected;
  for (int i = 0; i < 2; ++i) {
    events.push_back(CommittedEvent{&first, i, &first_result, 123});
    FillCommittedRecord(first, i, first_result, 123, expected.mutable_batch()->add_events());
  }
  for (int i = 0; i < 3; ++i) {
    events.push_back(CommittedEvent{&second, i, &second_result, 123});
    FillCommittedRecord(second, i, second_result, 123, expected.mutable_batch()->add_events());
  }

  const zmq::message_t batch = EncodeLiveBatch(events);

  EXPECT_EQ(batch.to_string(), expected.SerializeAsString());
  es::v1::LiveMessage parsed;
  ASSERT_TRUE(parsed.ParseFromArray(batch.data(), static_cast<int>(batch.size())));
  ASSERT_EQ(parsed.batch().events_size(), 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(parsed.batch().events(i).global_position(), 41u + i);
  EXPECT_EQ(parsed.batch().events(4).stream_version(), 9u);
}

}  // namespace
}  // namespace es::store
