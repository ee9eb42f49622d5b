#include "store_service/live_event.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <cassert>

namespace es::store {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedOutputStream;

// The serialized size of a proto3 string field (nothing when empty).
size_t StringFieldSize(const std::string& value) {
  return value.empty() ? 0 : 1 + WireFormatLite::StringSize(value);
}
size_t UInt64FieldSize(uint64_t value) {
  return value == 0 ? 0 : 1 + WireFormatLite::UInt64Size(value);
}

uint8_t* WriteString(int field, const std::string& value, uint8_t* out) {
  return value.empty() ? out : WireFormatLite::WriteStringToArray(field, value, out);
}
uint8_t* WriteUInt64(int field, uint64_t value, uint8_t* out) {
  return value == 0 ? out : WireFormatLite::WriteUInt64ToArray(field, value, out);
}

// The EventRecord's size (without the tag and length around it).
size_t RecordSize(const CommittedEvent& committed) {
  const es::v1::AppendRequest& request = *committed.request;
  const es::v1::NewEvent& event = request.events(committed.index);
  const auto offset = static_cast<uint64_t>(committed.index);
  // Every EventRecord field number is below 16: its tag is one byte.
  return StringFieldSize(event.event_id()) + StringFieldSize(request.stream_id()) +
         UInt64FieldSize(committed.result->first_version() + offset) +
         UInt64FieldSize(committed.result->first_position() + offset) +
         StringFieldSize(event.type()) + StringFieldSize(event.data()) +
         (committed.recorded_at_us == 0 ? 0
                                        : 1 + WireFormatLite::Int64Size(committed.recorded_at_us)) +
         StringFieldSize(request.command_id());
}

// Field 1 (the EventRecord) of a LiveMessage or an EventBatch: its size...
size_t EventFieldSize(size_t record_size) {
  return 1 + CodedOutputStream::VarintSize64(record_size) + record_size;
}

// ...and its bytes, written at `out`; returns the end.
uint8_t* WriteEventField(const CommittedEvent& committed, size_t record_size, uint8_t* out) {
  using Record = es::v1::EventRecord;
  const es::v1::AppendRequest& request = *committed.request;
  const es::v1::NewEvent& event = request.events(committed.index);
  const auto offset = static_cast<uint64_t>(committed.index);
  out = WireFormatLite::WriteTagToArray(1, WireFormatLite::WIRETYPE_LENGTH_DELIMITED, out);
  out = CodedOutputStream::WriteVarint64ToArray(record_size, out);
  out = WriteString(Record::kEventIdFieldNumber, event.event_id(), out);
  out = WriteString(Record::kStreamIdFieldNumber, request.stream_id(), out);
  out = WriteUInt64(Record::kStreamVersionFieldNumber, committed.result->first_version() + offset,
                    out);
  out = WriteUInt64(Record::kGlobalPositionFieldNumber, committed.result->first_position() + offset,
                    out);
  out = WriteString(Record::kTypeFieldNumber, event.type(), out);
  out = WriteString(Record::kDataFieldNumber, event.data(), out);
  if (committed.recorded_at_us != 0) {
    out = WireFormatLite::WriteInt64ToArray(Record::kRecordedAtUsFieldNumber,
                                            committed.recorded_at_us, out);
  }
  return WriteString(Record::kCommandIdFieldNumber, request.command_id(), out);
}

}  // namespace

static_assert(es::v1::LiveMessage::kEventFieldNumber == 1 &&
              es::v1::EventBatch::kEventsFieldNumber == 1);

zmq::message_t EncodeLiveEvent(const CommittedEvent& event) {
  const size_t record_size = RecordSize(event);
  zmq::message_t message(EventFieldSize(record_size));
  auto* out = static_cast<uint8_t*>(message.data());
  out = WriteEventField(event, record_size, out);
  assert(out == static_cast<uint8_t*>(message.data()) + message.size());
  (void)out;
  return message;
}

zmq::message_t EncodeLiveBatch(std::span<const CommittedEvent> events) {
  size_t body = 0;
  for (const CommittedEvent& event : events) body += EventFieldSize(RecordSize(event));
  zmq::message_t message(1 + CodedOutputStream::VarintSize64(body) + body);
  auto* out = static_cast<uint8_t*>(message.data());
  out = WireFormatLite::WriteTagToArray(es::v1::LiveMessage::kBatchFieldNumber,
                                        WireFormatLite::WIRETYPE_LENGTH_DELIMITED, out);
  out = CodedOutputStream::WriteVarint64ToArray(body, out);
  for (const CommittedEvent& event : events) out = WriteEventField(event, RecordSize(event), out);
  assert(out == static_cast<uint8_t*>(message.data()) + message.size());
  (void)out;
  return message;
}

}  // namespace es::store
