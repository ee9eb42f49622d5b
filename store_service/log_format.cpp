#include "store_service/log_format.h"

#include <bit>
#include <charconv>
#include <cstring>

#include "store_service/crc32c.h"

namespace es::store::logfmt {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the log format is little-endian and written with memcpy");

template <typename T>
void Put(char*& out, T value) {
  std::memcpy(out, &value, sizeof(T));
  out += sizeof(T);
}

void PutBytes(char*& out, std::string_view bytes) {
  if (!bytes.empty()) std::memcpy(out, bytes.data(), bytes.size());
  out += bytes.size();
}

template <typename T>
T Get(const char*& in) {
  T value;
  std::memcpy(&value, in, sizeof(T));
  in += sizeof(T);
  return value;
}

// Makes room for a frame with a `payload_size`-byte payload at the end of
// `out`; returns where the payload goes.
char* BeginFrame(uint32_t payload_size, std::string* out, size_t* frame_start) {
  *frame_start = out->size();
  out->resize(out->size() + kFrameHeaderSize + payload_size);
  char* header = out->data() + *frame_start;
  std::memcpy(header, &payload_size, 4);
  return header + kFrameHeaderSize;
}

// Stores the CRC of the frame at `frame_start` (size field and payload).
void EndFrame(std::string* out, size_t frame_start) {
  char* header = out->data() + frame_start;
  uint32_t payload_size;
  std::memcpy(&payload_size, header, 4);
  uint32_t crc = Crc32cExtend(Crc32c(header, 4), header + kFrameHeaderSize, payload_size);
  std::memcpy(header + 4, &crc, 4);
}

}  // namespace

std::string SegmentFileName(uint64_t first_position) {
  char digits[21];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), first_position);
  const size_t count = static_cast<size_t>(end - digits);
  std::string name(20 - count, '0');
  name.append(digits, count);
  name += kSegmentSuffix;
  return name;
}

std::optional<uint64_t> ParseSegmentFileName(std::string_view name) {
  if (name.size() != 20 + kSegmentSuffix.size() || !name.ends_with(kSegmentSuffix)) {
    return std::nullopt;
  }
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + 20, value);
  if (ec != std::errc() || end != name.data() + 20 || value == 0) return std::nullopt;
  return value;
}

void EncodeSegmentHeader(uint64_t first_position, char* out) {
  char* p = out;
  PutBytes(p, std::string_view(kSegmentMagic, sizeof(kSegmentMagic)));
  Put<uint32_t>(p, kFormatVersion);
  Put<uint32_t>(p, static_cast<uint32_t>(kSegmentHeaderSize));
  Put<uint64_t>(p, first_position);
  Put<uint32_t>(p, 0);
  Put<uint32_t>(p, Crc32c(out, kSegmentHeaderSize - 4));
}

std::optional<uint64_t> DecodeSegmentHeader(const char* data) {
  if (std::memcmp(data, kSegmentMagic, sizeof(kSegmentMagic)) != 0) return std::nullopt;
  const char* p = data + sizeof(kSegmentMagic);
  const auto version = Get<uint32_t>(p);
  const auto header_size = Get<uint32_t>(p);
  const auto first_position = Get<uint64_t>(p);
  Get<uint32_t>(p);  // reserved
  const auto crc = Get<uint32_t>(p);
  if (version != kFormatVersion || header_size != kSegmentHeaderSize || first_position == 0 ||
      crc != Crc32c(data, kSegmentHeaderSize - 4)) {
    return std::nullopt;
  }
  return first_position;
}

void AppendEventRecord(const EventView& event, std::string* out) {
  const size_t payload_size = kEventFixedSize + event.stream_id.size() + event.command_id.size() +
                              event.event_id.size() + event.type.size() + event.data.size();
  size_t frame_start;
  char* p = BeginFrame(static_cast<uint32_t>(payload_size), out, &frame_start);
  Put<uint8_t>(p, kEventKind);
  Put<uint64_t>(p, event.position);
  Put<uint64_t>(p, event.stream_version);
  Put<int64_t>(p, event.recorded_at_us);
  for (std::string_view field :
       {event.stream_id, event.command_id, event.event_id, event.type, event.data}) {
    Put<uint32_t>(p, static_cast<uint32_t>(field.size()));
  }
  for (std::string_view field :
       {event.stream_id, event.command_id, event.event_id, event.type, event.data}) {
    PutBytes(p, field);
  }
  EndFrame(out, frame_start);
}

void AppendCommitMarker(const CommitMarker& marker, std::string* out) {
  size_t frame_start;
  char* p = BeginFrame(static_cast<uint32_t>(kMarkerPayloadSize), out, &frame_start);
  Put<uint8_t>(p, kMarkerKind);
  Put<uint64_t>(p, marker.first_position);
  Put<uint64_t>(p, marker.last_position);
  Put<uint64_t>(p, marker.batch_start);
  Put<uint32_t>(p, marker.event_count);
  Put<uint32_t>(p, marker.batch_crc);
  EndFrame(out, frame_start);
}

FrameStatus ParseFrame(std::string_view bytes, Frame* frame, size_t* needed) {
  if (bytes.size() < kFrameHeaderSize) {
    *needed = kFrameHeaderSize;
    return FrameStatus::kIncomplete;
  }
  const char* p = bytes.data();
  const auto payload_size = Get<uint32_t>(p);
  const auto crc = Get<uint32_t>(p);
  if (payload_size == 0 || payload_size > kMaxPayloadSize) return FrameStatus::kBad;
  *needed = kFrameHeaderSize + payload_size;
  if (bytes.size() < *needed) return FrameStatus::kIncomplete;
  if (crc != Crc32cExtend(Crc32c(bytes.data(), 4), p, payload_size)) return FrameStatus::kBad;
  frame->kind = static_cast<uint8_t>(*p);
  frame->payload = std::string_view(p, payload_size);
  frame->size = *needed;
  return FrameStatus::kOk;
}

bool DecodeEvent(std::string_view payload, EventView* event) {
  if (payload.size() < kEventFixedSize || static_cast<uint8_t>(payload[0]) != kEventKind) {
    return false;
  }
  const char* p = payload.data() + 1;
  event->position = Get<uint64_t>(p);
  event->stream_version = Get<uint64_t>(p);
  event->recorded_at_us = Get<int64_t>(p);
  uint32_t sizes[5];
  uint64_t total = kEventFixedSize;
  for (uint32_t& size : sizes) {
    size = Get<uint32_t>(p);
    total += size;
  }
  if (total != payload.size()) return false;
  std::string_view* fields[5] = {&event->stream_id, &event->command_id, &event->event_id,
                                 &event->type, &event->data};
  for (int i = 0; i < 5; ++i) {
    *fields[i] = std::string_view(p, sizes[i]);
    p += sizes[i];
  }
  return true;
}

bool DecodeMarker(std::string_view payload, CommitMarker* marker) {
  if (payload.size() != kMarkerPayloadSize || static_cast<uint8_t>(payload[0]) != kMarkerKind) {
    return false;
  }
  const char* p = payload.data() + 1;
  marker->first_position = Get<uint64_t>(p);
  marker->last_position = Get<uint64_t>(p);
  marker->batch_start = Get<uint64_t>(p);
  marker->event_count = Get<uint32_t>(p);
  marker->batch_crc = Get<uint32_t>(p);
  return true;
}

size_t CountedSize(const EventView& event) {
  return event.event_id.size() + event.stream_id.size() + event.type.size() + event.data.size() +
         event.command_id.size();
}

void ToEventRecord(const EventView& event, es::v1::EventRecord* record) {
  // protobuf 3.21 setters take (pointer, size), not string_view.
  record->set_event_id(event.event_id.data(), event.event_id.size());
  record->set_stream_id(event.stream_id.data(), event.stream_id.size());
  record->set_stream_version(event.stream_version);
  record->set_global_position(event.position);
  record->set_type(event.type.data(), event.type.size());
  record->set_data(event.data.data(), event.data.size());
  record->set_recorded_at_us(event.recorded_at_us);
  record->set_command_id(event.command_id.data(), event.command_id.size());
}

}  // namespace es::store::logfmt
