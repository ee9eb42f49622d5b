// The on-disk format of the log engine (LogEventStorage). All integers are
// little-endian.
//
// The log is a directory of segment files named by the global position of
// their first event, zero-padded to 20 digits: 00000000000000000001.seg,
// 00000000000000004711.seg, ... A segment is a header, then records:
//
//   segment header (32 bytes):
//     "ESLOGSEG" | u32 format version (1) | u32 header size (32) |
//     u64 first position | u32 reserved (0) | u32 crc32c of the 28 bytes before
//
//   record: u32 payload size | u32 crc32c(payload size bytes, payload) | payload
//     payload[0] is the record kind:
//
//   event (kind 1), one per event:
//     u8 kind | u64 global position | u64 stream version | i64 recorded_at_us |
//     u32 sizes of: stream id, command id, event id, type, data | those bytes
//
//   commit marker (kind 2), ending every group-commit batch:
//     u8 kind | u64 first position | u64 last position |
//     u64 batch start (offset in the segment of the batch's first record) |
//     u32 event count | u32 crc32c of every byte of the batch's event records
//
// A batch is one write, then fdatasync: its events count only when its
// commit marker is whole and agrees with them (see LogEventStorage for the
// recovery rule).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "es/v1/event.pb.h"

namespace es::store::logfmt {

inline constexpr char kSegmentMagic[8] = {'E', 'S', 'L', 'O', 'G', 'S', 'E', 'G'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 32;
inline constexpr size_t kFrameHeaderSize = 8;
inline constexpr uint8_t kEventKind = 1;
inline constexpr uint8_t kMarkerKind = 2;
inline constexpr size_t kEventFixedSize = 1 + 8 + 8 + 8 + 5 * 4;
inline constexpr size_t kMarkerPayloadSize = 1 + 8 + 8 + 8 + 4 + 4;
// No record is larger (an append is capped far below this).
inline constexpr uint32_t kMaxPayloadSize = uint32_t{1} << 30;
inline constexpr std::string_view kSegmentSuffix = ".seg";

// "00000000000000000001.seg" for 1.
std::string SegmentFileName(uint64_t first_position);
// The first position a segment file name stands for; nullopt if `name` is
// not a segment file name.
std::optional<uint64_t> ParseSegmentFileName(std::string_view name);

// Writes the 32-byte header of a segment starting at `first_position`.
void EncodeSegmentHeader(uint64_t first_position, char* out);
// The first position of a valid header (magic, version, size, CRC), else
// nullopt. `data` holds kSegmentHeaderSize bytes.
std::optional<uint64_t> DecodeSegmentHeader(const char* data);

// An event record's fields; the strings point into the record's bytes.
struct EventView {
  uint64_t position = 0;
  uint64_t stream_version = 0;
  int64_t recorded_at_us = 0;
  std::string_view stream_id;
  std::string_view command_id;
  std::string_view event_id;
  std::string_view type;
  std::string_view data;
};

struct CommitMarker {
  uint64_t first_position = 0;
  uint64_t last_position = 0;
  uint64_t batch_start = 0;
  uint32_t event_count = 0;
  uint32_t batch_crc = 0;
};

// Appends one framed event record to `out`.
void AppendEventRecord(const EventView& event, std::string* out);
// Appends one framed commit marker to `out`.
void AppendCommitMarker(const CommitMarker& marker, std::string* out);

// One record frame found in a byte range.
struct Frame {
  uint8_t kind = 0;
  std::string_view payload;  // kind byte included
  size_t size = 0;           // header + payload
};

enum class FrameStatus {
  kOk,
  // The range ends before the frame does; *needed says how many bytes the
  // frame takes (kFrameHeaderSize while its header is incomplete).
  kIncomplete,
  // Not a record: a size of 0 or over the limit, or a CRC mismatch.
  kBad,
};

// Parses the frame at the start of `bytes`.
FrameStatus ParseFrame(std::string_view bytes, Frame* frame, size_t* needed);

// Decode a frame's payload; false when it is malformed for its kind.
bool DecodeEvent(std::string_view payload, EventView* event);
bool DecodeMarker(std::string_view payload, CommitMarker* marker);

// The bytes an event counts for against ReadLimits::max_bytes (as
// RecordSize in event_storage.h).
size_t CountedSize(const EventView& event);
void ToEventRecord(const EventView& event, es::v1::EventRecord* record);

}  // namespace es::store::logfmt
