// The log engine opening a data directory it did not write, or a crash left
// behind: LogEventStorage::Open's scan and recovery (log_format, the
// recovery rule in log_event_storage.h).
//
// Input: u8 segment count (1..4), then per segment u64 first position (the
// file is named by it), u8 mode, and the contents:
//   mode bit 0 set: LongPiece(raw bytes), the whole file as given;
//   else a valid header, then ops until op 255 or the input ends:
//     0 an event record, valid CRC: u64 position, u64 stream version,
//       Piece stream id, Piece command id, Piece type, Piece data;
//     1 a commit marker, valid CRC, fields as given: u64 first, u64 last,
//       u64 batch start, u32 count, u32 batch crc;
//     2 the correct commit marker for the events since the last marker;
//     3 raw bytes: Piece;
//     4 cut the last u8 bytes (a torn tail).
//
// Invariants when Open succeeds: every position 1..Head reads back in
// order, each stream's versions read back 1..its version, every command id
// read is found, and after one more append the directory opens again with
// that append in it. Open may refuse (corruption), never crash.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "store_service/crc32c.h"
#include "store_service/log_event_storage.h"
#include "store_service/log_format.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

namespace fs = std::filesystem;
using es::fuzz::Fail;
using es::store::logfmt::CommitMarker;
using es::store::logfmt::EventView;

fs::path BaseDir() {
  static const fs::path dir = [] {
    const char* base = fs::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string pattern = std::string(base) + "/es-fuzz-log-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) abort();
    return fs::path(pattern);
  }();
  return dir;
}

std::string BuildSegment(es::fuzz::FuzzInput& input, uint64_t first_position, uint8_t mode) {
  if (mode & 1) return std::string(input.LongPiece());
  std::string bytes(es::store::logfmt::kSegmentHeaderSize, '\0');
  es::store::logfmt::EncodeSegmentHeader(first_position, bytes.data());
  size_t batch_start = bytes.size();
  uint64_t batch_first = 0;
  uint64_t batch_last = 0;
  uint32_t batch_count = 0;
  for (int ops = 0; !input.empty() && ops < 200; ++ops) {
    const uint8_t op = input.Int<uint8_t>();
    if (op == 255) break;
    switch (op % 5) {
      case 0: {
        EventView event;
        event.position = input.Int<uint64_t>();
        event.stream_version = input.Int<uint64_t>();
        event.recorded_at_us = 1'700'000'000'000'000;
        const std::string stream(input.Piece());
        const std::string command(input.Piece());
        const std::string type(input.Piece());
        const std::string data(input.Piece());
        const std::string event_id = command + "/0";
        event.stream_id = stream;
        event.command_id = command;
        event.event_id = event_id;
        event.type = type;
        event.data = data;
        if (batch_count == 0) batch_first = event.position;
        batch_last = event.position;
        ++batch_count;
        es::store::logfmt::AppendEventRecord(event, &bytes);
        break;
      }
      case 1: {
        CommitMarker marker;
        marker.first_position = input.Int<uint64_t>();
        marker.last_position = input.Int<uint64_t>();
        marker.batch_start = input.Int<uint64_t>();
        marker.event_count = input.Int<uint32_t>();
        marker.batch_crc = input.Int<uint32_t>();
        es::store::logfmt::AppendCommitMarker(marker, &bytes);
        batch_start = bytes.size();
        batch_count = 0;
        break;
      }
      case 2: {
        CommitMarker marker;
        marker.first_position = batch_first;
        marker.last_position = batch_last;
        marker.batch_start = batch_start;
        marker.event_count = batch_count;
        marker.batch_crc =
            es::store::Crc32c(std::string_view(bytes).substr(batch_start));
        es::store::logfmt::AppendCommitMarker(marker, &bytes);
        batch_start = bytes.size();
        batch_count = 0;
        break;
      }
      case 3:
        bytes.append(input.Piece());
        break;
      case 4:
        bytes.resize(bytes.size() - std::min<size_t>(bytes.size(), input.Int<uint8_t>()));
        batch_start = std::min(batch_start, bytes.size());
        break;
    }
  }
  return bytes;
}

std::unique_ptr<es::store::LogEventStorage> Open(const fs::path& dir, es::store::Status* status) {
  es::store::LogStorageOptions options;
  options.directory = dir.string();
  options.segment_bytes = 4096;
  auto storage = std::make_unique<es::store::LogEventStorage>(options);
  *status = storage->Open();
  return storage;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  es::fuzz::FuzzInput input(data, size);
  const fs::path dir = BaseDir() / "log";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const int segments = 1 + input.Int<uint8_t>() % 4;
  for (int i = 0; i < segments && !input.empty(); ++i) {
    const uint64_t first_position = input.Int<uint64_t>();
    const uint8_t mode = input.Int<uint8_t>();
    const std::string bytes = BuildSegment(input, first_position, mode);
    std::ofstream out(dir / es::store::logfmt::SegmentFileName(first_position), std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  es::store::Status status;
  std::unique_ptr<es::store::LogEventStorage> storage = Open(dir, &status);
  if (!status.ok()) return 0;  // refused: corruption it will not guess about
  const uint64_t head = storage->Head();
  std::map<std::string, uint64_t> streams;
  std::set<std::string> commands;
  uint64_t expected = 1;
  while (expected <= head) {
    es::v1::ReadAllResult page;
    es::store::ReadLimits limits;
    limits.max_count = 100;
    es::store::Status read = storage->ReadAll(expected, "", limits, &page);
    if (!read.ok()) Fail("reading position " + std::to_string(expected) + ": " + read.ToString());
    if (page.events().empty()) Fail("no event at " + std::to_string(expected));
    for (const auto& event : page.events()) {
      if (event.global_position() != expected) Fail("positions out of order");
      ++expected;
      uint64_t& version = streams[event.stream_id()];
      if (event.stream_version() != version + 1) Fail("stream versions out of order");
      version = event.stream_version();
      commands.insert(event.command_id());
    }
  }
  for (const auto& [stream, version] : streams) {
    if (storage->StreamVersion(stream) != version) Fail("stream version of " + stream);
  }
  for (const std::string& command : commands) {
    if (!command.empty() && !storage->FindCommand(command)) Fail("command id not found");
  }

  // It keeps going: one more append, and the directory opens with it.
  es::v1::AppendRequest append;
  append.set_stream_id("fuzz-after");
  append.set_command_id("fuzz-after-command");
  append.mutable_expected_version()->set_any(true);
  es::v1::NewEvent* event = append.add_events();
  event->set_event_id("fuzz-after-command/0");
  event->set_type("test.Event");
  event->set_data("after");
  const es::v1::AppendRequest* batch[] = {&append};
  const std::vector<es::store::AppendOutcome> outcomes = storage->Append(batch, 1);
  const bool appended = outcomes.size() == 1 && outcomes[0].status.ok() &&
                        !outcomes[0].result.duplicate();
  storage.reset();
  storage = Open(dir, &status);
  if (!status.ok()) Fail("a log that opened does not open after an append: " + status.ToString());
  if (storage->Head() != head + (appended ? 1 : 0)) Fail("the append is not there after reopen");
  return 0;
}
