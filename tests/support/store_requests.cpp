#include "tests/support/store_requests.h"

namespace es::testing {

es::v1::ExpectedVersion ExpectExact(uint64_t version) {
  es::v1::ExpectedVersion expected;
  expected.set_exact(version);
  return expected;
}

es::v1::ExpectedVersion ExpectAny() {
  es::v1::ExpectedVersion expected;
  expected.set_any(true);
  return expected;
}

es::v1::ExpectedVersion ExpectNoStream() {
  es::v1::ExpectedVersion expected;
  expected.set_no_stream(true);
  return expected;
}

es::v1::AppendRequest MakeAppend(const std::string& stream_id, const std::string& command_id,
                                 const es::v1::ExpectedVersion& expected, int event_count) {
  es::v1::AppendRequest append;
  append.set_stream_id(stream_id);
  append.set_command_id(command_id);
  *append.mutable_expected_version() = expected;
  for (int i = 0; i < event_count; ++i) {
    es::v1::NewEvent* event = append.add_events();
    event->set_event_id(command_id + "/" + std::to_string(i));
    event->set_type("test.Event");
    event->set_data(command_id + ":" + std::to_string(i));
  }
  return append;
}

es::v1::AppendRequest AppendOfMessage(const std::string& stream_id, const std::string& command_id,
                                      const es::v1::ExpectedVersion& expected,
                                      const google::protobuf::Message& event) {
  es::v1::AppendRequest append = MakeAppend(stream_id, command_id, expected, 1);
  append.mutable_events(0)->set_type(event.GetDescriptor()->full_name());
  append.mutable_events(0)->set_data(event.SerializeAsString());
  return append;
}

es::v1::StoreRequest AppendRequestOf(es::v1::AppendRequest append) {
  es::v1::StoreRequest request;
  *request.mutable_append() = std::move(append);
  return request;
}

es::v1::StoreRequest PingRequest() {
  es::v1::StoreRequest request;
  request.mutable_ping();
  return request;
}

es::v1::StoreRequest ReadStreamRequest(const std::string& stream_id, uint64_t from_version,
                                       uint32_t max_count) {
  es::v1::StoreRequest request;
  es::v1::ReadStreamRequest* read = request.mutable_read_stream();
  read->set_stream_id(stream_id);
  read->set_from_version(from_version);
  read->set_max_count(max_count);
  return request;
}

es::v1::StoreRequest ReadAllRequest(uint64_t from_position, uint32_t max_count,
                                    const std::string& stream_prefix) {
  es::v1::StoreRequest request;
  es::v1::ReadAllRequest* read = request.mutable_read_all();
  read->set_from_position(from_position);
  read->set_max_count(max_count);
  read->set_stream_prefix(stream_prefix);
  return request;
}

}  // namespace es::testing
