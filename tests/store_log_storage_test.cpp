// What only the log engine (LogEventStorage) has to get right: its record
// format, start-up after a crash (a torn batch at the tail is cut off,
// corruption of committed events is refused), segment roll-over, a full
// disk part-way through a write, a failed fdatasync, and pipelined batches.
// The EventStorage contract itself is tested for every engine in
// store_storage_test.cpp.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "store_service/crc32c.h"
#include "store_service/log_event_storage.h"
#include "store_service/log_format.h"
#include "tests/store_storage_engines.h"
#include "tests/support/proto_equals.h"
#include "tests/support/store_requests.h"
#include "tests/support/temp_dir.h"

namespace es::store {
namespace {

using es::testing::ExpectAny;
using es::testing::ExpectExact;
using es::testing::ExpectNoStream;
using es::testing::FaultyLogFileIo;
using es::testing::MakeAppend;
using es::testing::ProtoEquals;
using es::v1::AppendRequest;

constexpr int64_t kRecordedAt = 1'700'000'000'123'456;

uint64_t FileSize(const std::string& path) { return std::filesystem::file_size(path); }

void AppendToFile(const std::string& path, const std::string& bytes) {
  std::ofstream file(path, std::ios::binary | std::ios::app);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(file.good());
}

void FlipByteAt(const std::string& path, uint64_t offset) {
  std::fstream file(path, std::ios::binary | std::ios::in | std::ios::out);
  file.seekg(static_cast<std::streamoff>(offset));
  char byte = 0;
  file.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x5a);
  file.seekp(static_cast<std::streamoff>(offset));
  file.write(&byte, 1);
  ASSERT_TRUE(file.good());
}

TEST(Crc32cTest, MatchesTheStandardCheckValue) {
  EXPECT_EQ(Crc32c(std::string_view("123456789")), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string_view("")), 0u);
  // Extending in pieces equals one pass, at every split.
  const std::string text = "The quick brown fox jumps over the lazy dog, twice over.";
  for (size_t split = 0; split <= text.size(); ++split) {
    EXPECT_EQ(Crc32cExtend(Crc32c(text.data(), split), text.data() + split, text.size() - split),
              Crc32c(text));
  }
}

TEST(LogFormatTest, SegmentNamesAreTheFirstPositionInTwentyDigits) {
  EXPECT_EQ(logfmt::SegmentFileName(1), "00000000000000000001.seg");
  EXPECT_EQ(logfmt::SegmentFileName(4711), "00000000000000004711.seg");
  EXPECT_EQ(logfmt::ParseSegmentFileName("00000000000000004711.seg"), 4711u);
  EXPECT_FALSE(logfmt::ParseSegmentFileName("LOCK").has_value());
  EXPECT_FALSE(logfmt::ParseSegmentFileName("0000000000000000471x.seg").has_value());
  EXPECT_FALSE(logfmt::ParseSegmentFileName("00000000000000000000.seg").has_value());
}

TEST(LogFormatTest, RecordsRoundTripAndACorruptByteIsCaught) {
  logfmt::EventView event;
  event.position = 42;
  event.stream_version = 7;
  event.recorded_at_us = kRecordedAt;
  event.stream_id = "account-1";
  event.command_id = "cmd-1";
  event.event_id = "cmd-1/0";
  event.type = "es.v1.AccountOpened";
  event.data = std::string_view("\0\xff data", 7);
  std::string bytes;
  logfmt::AppendEventRecord(event, &bytes);

  logfmt::Frame frame;
  size_t needed = 0;
  ASSERT_EQ(logfmt::ParseFrame(bytes, &frame, &needed), logfmt::FrameStatus::kOk);
  logfmt::EventView decoded;
  ASSERT_TRUE(logfmt::DecodeEvent(frame.payload, &decoded));
  EXPECT_EQ(decoded.position, 42u);
  EXPECT_EQ(decoded.stream_version, 7u);
  EXPECT_EQ(decoded.recorded_at_us, kRecordedAt);
  EXPECT_EQ(decoded.stream_id, "account-1");
  EXPECT_EQ(decoded.command_id, "cmd-1");
  EXPECT_EQ(decoded.event_id, "cmd-1/0");
  EXPECT_EQ(decoded.type, "es.v1.AccountOpened");
  EXPECT_EQ(decoded.data, event.data);
  EXPECT_EQ(
      logfmt::ParseFrame(std::string_view(bytes).substr(0, bytes.size() - 1), &frame, &needed),
      logfmt::FrameStatus::kIncomplete);
  EXPECT_EQ(needed, bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string spoiled = bytes;
    spoiled[i] = static_cast<char>(spoiled[i] ^ 0x01);
    EXPECT_NE(logfmt::ParseFrame(spoiled, &frame, &needed), logfmt::FrameStatus::kOk)
        << "a flipped bit at byte " << i << " went unnoticed";
  }
}

class LogEventStorageTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenStorage(); }

  es::testing::EngineSettings Settings() const {
    es::testing::EngineSettings settings;
    settings.segment_bytes = segment_bytes_;
    settings.io = io_;
    return settings;
  }

  void OpenStorage() {
    storage_.reset();
    storage_ = std::make_unique<LogEventStorage>(es::testing::LogOptions(dir_, Settings()));
    Status status = storage_->Open();
    ASSERT_TRUE(status.ok()) << status.ToString();
  }

  // Opens a second time expecting a refusal; returns its status.
  Status OpenFails() {
    storage_.reset();
    LogEventStorage storage(es::testing::LogOptions(dir_, Settings()));
    Status status = storage.Open();
    EXPECT_FALSE(status.ok()) << "Open should have refused the log";
    return status;
  }

  AppendOutcome Append(const AppendRequest& request) {
    return storage_->AppendOne(request, kRecordedAt);
  }

  std::vector<AppendOutcome> AppendBatch(const std::vector<AppendRequest>& requests) {
    std::vector<const AppendRequest*> batch;
    for (const AppendRequest& request : requests) batch.push_back(&request);
    return storage_->Append(batch, kRecordedAt);
  }

  // Appends `count` events to `stream` (one per append, in one batch) and
  // expects them to succeed.
  void AppendEvents(const std::string& stream, const std::string& command_prefix, int count,
                    size_t data_bytes = 0) {
    std::vector<AppendRequest> requests;
    for (int i = 0; i < count; ++i) {
      requests.push_back(MakeAppend(stream, command_prefix + "-" + std::to_string(i), ExpectAny()));
      if (data_bytes > 0) requests.back().mutable_events(0)->set_data(std::string(data_bytes, 'd'));
    }
    for (const AppendOutcome& outcome : AppendBatch(requests)) {
      ASSERT_TRUE(outcome.status.ok()) << outcome.status.ToString();
    }
  }

  std::vector<es::v1::EventRecord> ReadEverything(uint32_t page = 7) {
    std::vector<es::v1::EventRecord> events;
    ReadLimits limits;
    limits.max_count = page;
    uint64_t from = 1;
    while (true) {
      es::v1::ReadAllResult result;
      Status status = storage_->ReadAll(from, "", limits, &result);
      EXPECT_TRUE(status.ok()) << status.ToString();
      if (!status.ok()) return events;
      events.insert(events.end(), result.events().begin(), result.events().end());
      if (result.scanned_through() >= result.head_position()) return events;
      from = result.scanned_through() + 1;
    }
  }

  std::vector<std::string> SegmentPaths() const {
    std::vector<std::string> paths;
    for (const auto& entry : std::filesystem::directory_iterator(es::testing::LogDirectory(dir_))) {
      if (entry.path().extension() == ".seg") paths.push_back(entry.path().string());
    }
    std::sort(paths.begin(), paths.end());
    return paths;
  }
  std::string LastSegment() const { return SegmentPaths().back(); }

  void ExpectGapFree(const std::vector<es::v1::EventRecord>& events) {
    std::map<std::string, uint64_t> versions;
    for (size_t i = 0; i < events.size(); ++i) {
      ASSERT_EQ(events[i].global_position(), i + 1);
      ASSERT_EQ(events[i].stream_version(), ++versions[events[i].stream_id()]);
    }
  }

  // Waits for the oldest submitted batch and takes its outcomes.
  std::vector<AppendOutcome> TakeNext() {
    for (int i = 0; i < 1000; ++i) {
      if (std::optional<std::vector<AppendOutcome>> outcomes = storage_->TakeCompleted()) {
        return std::move(*outcomes);
      }
      pollfd item{storage_->CompletionFd(), POLLIN, 0};
      ::poll(&item, 1, 10);
    }
    ADD_FAILURE() << "a submitted batch never completed";
    return {};
  }

  es::testing::TempDir dir_;
  uint64_t segment_bytes_ = uint64_t{256} << 20;
  std::shared_ptr<FaultyLogFileIo> io_;
  std::unique_ptr<LogEventStorage> storage_;
};

// What a crash can leave after the last whole batch.
struct TornTail {
  std::string name;
  // The bytes, given the head at the time (for records that look right).
  std::string (*bytes)(uint64_t head);
};

std::string RecordsWithoutACommitMarker(uint64_t head) {
  std::string bytes;
  for (uint64_t i = 1; i <= 3; ++i) {
    logfmt::EventView event;
    event.position = head + i;
    event.stream_version = i;
    event.recorded_at_us = kRecordedAt;
    event.stream_id = "torn";
    event.command_id = "torn-cmd";
    const std::string event_id = "torn/" + std::to_string(i);
    event.event_id = event_id;
    event.type = "test.Event";
    event.data = "never acknowledged";
    logfmt::AppendEventRecord(event, &bytes);
  }
  return bytes;
}

class LogTornTailTest : public LogEventStorageTest,
                        public ::testing::WithParamInterface<TornTail> {};

TEST_P(LogTornTailTest, IsCutOffAtStartUpAndAppendsContinueAtTheNextPosition) {
  AppendEvents("a", "first", 2);
  AppendEvents("b", "second", 1);
  AppendEvents("a", "third", 3);
  const std::vector<es::v1::EventRecord> before = ReadEverything();
  const std::string segment = LastSegment();
  const uint64_t committed_size = FileSize(segment);
  storage_.reset();
  const std::string tail = GetParam().bytes(6);
  AppendToFile(segment, tail);

  OpenStorage();

  EXPECT_EQ(storage_->Head(), 6u);
  EXPECT_EQ(FileSize(segment), committed_size);
  EXPECT_EQ(storage_->recovery().torn_bytes_dropped, tail.size());
  std::vector<es::v1::EventRecord> after = ReadEverything();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(ProtoEquals(before[i], after[i]));
  EXPECT_EQ(storage_->StreamVersion("torn"), 0u);
  EXPECT_FALSE(storage_->FindCommand("torn-cmd").has_value());
  AppendOutcome next = Append(MakeAppend("a", "fourth", ExpectExact(5)));
  ASSERT_TRUE(next.status.ok()) << next.status.ToString();
  EXPECT_EQ(next.result.first_position(), 7u);
  OpenStorage();
  EXPECT_EQ(storage_->Head(), 7u);
  EXPECT_EQ(storage_->recovery().torn_bytes_dropped, 0u);
  ExpectGapFree(ReadEverything());
}

INSTANTIATE_TEST_SUITE_P(
    Tails, LogTornTailTest,
    ::testing::Values(TornTail{"RecordsWithoutACommitMarker", RecordsWithoutACommitMarker},
                      TornTail{"HalfARecord",
                               [](uint64_t head) {
                                 std::string records = RecordsWithoutACommitMarker(head);
                                 return records.substr(0, records.size() / 3 + 5);
                               }},
                      TornTail{"AFewBytes",
                               [](uint64_t) { return std::string("\x10\x00\x00", 3); }},
                      TornTail{"Zeros", [](uint64_t) { return std::string(8192, '\0'); }},
                      TornTail{"Garbage",
                               [](uint64_t) {
                                 std::string garbage(5000, '\0');
                                 uint32_t x = 12345;
                                 for (char& c : garbage) {
                                   x = x * 1103515245 + 12345;
                                   c = static_cast<char>(x >> 16);
                                 }
                                 return garbage;
                               }}),
    [](const ::testing::TestParamInfo<TornTail>& info) { return info.param.name; });

TEST_F(LogEventStorageTest, ACorruptRecordInTheLastBatchDropsThatWholeBatch) {
  AppendEvents("s", "early", 2);
  const uint64_t committed_size = FileSize(LastSegment());
  AppendEvents("s", "late", 4);  // one batch of four appends
  const uint64_t size_with_last = FileSize(LastSegment());
  storage_.reset();
  FlipByteAt(LastSegment(), committed_size + (size_with_last - committed_size) / 2);

  OpenStorage();

  EXPECT_EQ(storage_->Head(), 2u);
  EXPECT_EQ(storage_->StreamVersion("s"), 2u);
  EXPECT_EQ(FileSize(LastSegment()), committed_size);
  for (int i = 0; i < 4; ++i) {
    EXPECT_FALSE(storage_->FindCommand("late-" + std::to_string(i)).has_value());
  }
  EXPECT_TRUE(storage_->FindCommand("early-1").has_value());
  AppendOutcome next = Append(MakeAppend("s", "after", ExpectExact(2)));
  ASSERT_TRUE(next.status.ok()) << next.status.ToString();
  EXPECT_EQ(next.result.first_position(), 3u);
  ExpectGapFree(ReadEverything());
}

TEST_F(LogEventStorageTest, ABrokenCommitMarkerDropsItsBatch) {
  AppendEvents("s", "early", 2);
  const uint64_t committed_size = FileSize(LastSegment());
  AppendEvents("s", "late", 1);
  const uint64_t size_with_last = FileSize(LastSegment());
  storage_.reset();
  FlipByteAt(LastSegment(), size_with_last - 3);  // inside the marker's CRC-covered payload

  OpenStorage();

  EXPECT_EQ(storage_->Head(), 2u);
  EXPECT_EQ(FileSize(LastSegment()), committed_size);
}

TEST_F(LogEventStorageTest, CorruptionFollowedByACommittedBatchIsRefusedNotDropped) {
  AppendEvents("s", "first", 2);
  const uint64_t first_size = FileSize(LastSegment());
  AppendEvents("s", "second", 2);
  const uint64_t second_size = FileSize(LastSegment());
  AppendEvents("s", "third", 2);
  const uint64_t total = FileSize(LastSegment());
  storage_.reset();
  FlipByteAt(LastSegment(), first_size + (second_size - first_size) / 2);

  Status status = OpenFails();

  EXPECT_EQ(status.code(), es::v1::ERROR_CODE_STORAGE_FAILURE);
  EXPECT_NE(status.message().find("corrupt"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("refusing to drop committed events"), std::string::npos)
      << status.message();
  EXPECT_EQ(FileSize(LastSegment()), total) << "nothing may be cut off a log that was refused";
}

TEST_F(LogEventStorageTest, ACorruptLastBatchFollowedByMoreDataIsRefused) {
  // The next batch is written only after the last one's fdatasync
  // returned: data after its commit marker means it had been acknowledged.
  AppendEvents("s", "first", 2);
  const uint64_t first_size = FileSize(LastSegment());
  AppendEvents("s", "second", 2);
  const uint64_t second_size = FileSize(LastSegment());
  storage_.reset();
  FlipByteAt(LastSegment(), first_size + (second_size - first_size) / 2);
  AppendToFile(LastSegment(), RecordsWithoutACommitMarker(4).substr(0, 30));

  Status status = OpenFails();

  EXPECT_NE(status.message().find("acknowledged"), std::string::npos) << status.message();
}

TEST_F(LogEventStorageTest, RollsOverToNewSegmentsAndReadsAcrossThem) {
  segment_bytes_ = 4096;
  OpenStorage();
  size_t total = 0;
  int stream_1 = 0;
  for (int batch = 0; batch < 30; ++batch) {
    AppendEvents("stream-" + std::to_string(batch % 3), "b" + std::to_string(batch), 1 + batch % 4,
                 300);
    total += 1 + batch % 4;
    if (batch % 3 == 1) stream_1 += 1 + batch % 4;
  }
  const std::vector<es::v1::EventRecord> before = ReadEverything(11);
  ASSERT_EQ(before.size(), total);
  ExpectGapFree(before);
  std::vector<std::string> segments = SegmentPaths();
  EXPECT_GT(segments.size(), 5u);
  EXPECT_EQ(storage_->segment_count(), segments.size());
  EXPECT_EQ(std::filesystem::path(segments.front()).filename(), "00000000000000000001.seg");
  // Each segment is named by the position of its first event.
  for (const std::string& path : segments) {
    std::optional<uint64_t> first =
        logfmt::ParseSegmentFileName(std::filesystem::path(path).filename().string());
    ASSERT_TRUE(first.has_value()) << path;
    ASSERT_LE(*first, before.size());
  }
  es::v1::ReadStreamResult stream;
  ASSERT_TRUE(storage_->ReadStream("stream-1", 1, ReadLimits{}, &stream).ok());
  EXPECT_EQ(stream.events_size(), stream_1);
  EXPECT_TRUE(stream.end_of_stream());

  OpenStorage();

  EXPECT_EQ(storage_->segment_count(), segments.size());
  std::vector<es::v1::EventRecord> after = ReadEverything(13);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(ProtoEquals(before[i], after[i]));
  es::v1::ReadStreamResult reread;
  ASSERT_TRUE(storage_->ReadStream("stream-1", 1, ReadLimits{}, &reread).ok());
  EXPECT_TRUE(ProtoEquals(stream, reread));
  AppendEvents("stream-0", "after-reopen", 20, 300);
  EXPECT_GT(SegmentPaths().size(), segments.size());
  ExpectGapFree(ReadEverything(50));
  EXPECT_EQ(storage_->Head(), total + 20);
}

// Pages of `path` in the page cache (mincore over a mapping of it).
size_t ResidentPages(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat info {};
  size_t resident = 0;
  if (::fstat(fd, &info) == 0 && info.st_size > 0) {
    const auto size = static_cast<size_t>(info.st_size);
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map != MAP_FAILED) {
      const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
      std::vector<unsigned char> in_core((size + page - 1) / page);
      if (::mincore(map, size, in_core.data()) == 0) {
        for (unsigned char flag : in_core) resident += flag & 1;
      }
      ::munmap(map, size);
    }
  }
  ::close(fd);
  return resident;
}

// A sealed segment's pages leave the page cache (the log's cache grew with
// every segment and slowed appends); reads still return every event.
TEST_F(LogEventStorageTest, SealedSegmentsLeaveThePageCacheAndStillRead) {
  // Does this file system act on POSIX_FADV_DONTNEED at all (tmpfs does not)?
  const std::string probe = (std::filesystem::path(dir_.path()) / "probe").string();
  {
    std::ofstream out(probe, std::ios::binary);
    out << std::string(64 * 1024, 'x');
  }
  {
    const int fd = ::open(probe.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ::fdatasync(fd);
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
  if (ResidentPages(probe) != 0) GTEST_SKIP() << "this file system keeps pages after DONTNEED";

  segment_bytes_ = 64 * 1024;
  OpenStorage();
  size_t total = 0;
  for (int batch = 0; batch < 80; ++batch) {
    AppendEvents("stream-" + std::to_string(batch % 5), "b" + std::to_string(batch), 4, 1000);
    total += 4;
  }
  const std::vector<std::string> segments = SegmentPaths();
  ASSERT_GT(segments.size(), 3u);
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    EXPECT_EQ(ResidentPages(segments[i]), 0u) << segments[i] << " is sealed yet cached";
  }
  const std::vector<es::v1::EventRecord> events = ReadEverything(17);
  ASSERT_EQ(events.size(), total);
  ExpectGapFree(events);
}

TEST_F(LogEventStorageTest, ATornBatchInTheLastOfSeveralSegmentsIsCutOff) {
  segment_bytes_ = 4096;
  OpenStorage();
  for (int batch = 0; batch < 12; ++batch) AppendEvents("s", "b" + std::to_string(batch), 2, 400);
  ASSERT_GT(SegmentPaths().size(), 2u);
  const uint64_t head = storage_->Head();
  storage_.reset();
  AppendToFile(LastSegment(), RecordsWithoutACommitMarker(head));

  OpenStorage();

  EXPECT_EQ(storage_->Head(), head);
  ExpectGapFree(ReadEverything());
  AppendOutcome next = Append(MakeAppend("s", "next", ExpectExact(head)));
  ASSERT_TRUE(next.status.ok()) << next.status.ToString();
  EXPECT_EQ(next.result.first_position(), head + 1);
}

TEST_F(LogEventStorageTest, CorruptionInAnOlderSegmentIsRefused) {
  segment_bytes_ = 4096;
  OpenStorage();
  for (int batch = 0; batch < 12; ++batch) AppendEvents("s", "b" + std::to_string(batch), 2, 400);
  std::vector<std::string> segments = SegmentPaths();
  ASSERT_GT(segments.size(), 2u);
  storage_.reset();
  // The end of the first segment: its last batch.
  FlipByteAt(segments.front(), FileSize(segments.front()) - 50);

  Status status = OpenFails();

  EXPECT_NE(status.message().find("not the last segment"), std::string::npos) << status.message();
}

TEST_F(LogEventStorageTest, ASegmentLeftEmptyByAnInterruptedRollOverIsRemoved) {
  segment_bytes_ = 4096;
  OpenStorage();
  // Until the active segment is full: the next batch starts a new one.
  for (int batch = 0; batch < 100; ++batch) {
    AppendEvents("s", "b" + std::to_string(batch), 2, 400);
    if (batch > 12 && FileSize(LastSegment()) >= segment_bytes_) break;
  }
  const uint64_t head = storage_->Head();
  const size_t segments = SegmentPaths().size();
  storage_.reset();
  // The next segment's file exists, but its header never became durable.
  const std::string next =
      es::testing::LogDirectory(dir_) + "/" + logfmt::SegmentFileName(head + 1);
  AppendToFile(next, std::string(12, '\0'));

  OpenStorage();

  EXPECT_FALSE(std::filesystem::exists(next));
  EXPECT_EQ(SegmentPaths().size(), segments);
  EXPECT_EQ(storage_->Head(), head);
  AppendEvents("s", "after", 12, 400);  // rolls over, to the same name
  EXPECT_TRUE(std::filesystem::exists(next));
  OpenStorage();
  EXPECT_EQ(storage_->Head(), head + 12);
  ExpectGapFree(ReadEverything());
}

TEST_F(LogEventStorageTest, AGapBetweenSegmentsIsRefused) {
  segment_bytes_ = 4096;
  OpenStorage();
  for (int batch = 0; batch < 12; ++batch) AppendEvents("s", "b" + std::to_string(batch), 2, 400);
  std::vector<std::string> segments = SegmentPaths();
  ASSERT_GT(segments.size(), 2u);
  storage_.reset();
  std::filesystem::remove(segments[1]);

  Status status = OpenFails();

  EXPECT_NE(status.message().find("starts at position"), std::string::npos) << status.message();
}

TEST_F(LogEventStorageTest, AFailedFdatasyncRefusesEveryLaterAppendUntilRestart) {
  io_ = std::make_shared<FaultyLogFileIo>();
  OpenStorage();
  AppendEvents("s", "before", 2);
  io_->failing_syncs = 1;

  AppendOutcome failed = Append(MakeAppend("s", "lost", ExpectExact(2)));

  EXPECT_EQ(failed.status.code(), es::v1::ERROR_CODE_STORAGE_FAILURE) << failed.status.ToString();
  EXPECT_NE(failed.status.message().find("fdatasync"), std::string::npos)
      << failed.status.message();
  EXPECT_TRUE(storage_->failed());
  // The disk seems fine again, but what the page cache holds is unknown:
  // no retry, however innocent.
  const int syncs = io_->syncs;
  AppendOutcome later = Append(MakeAppend("t", "later", ExpectNoStream()));
  EXPECT_EQ(later.status.code(), es::v1::ERROR_CODE_STORAGE_FAILURE);
  EXPECT_EQ(io_->syncs, syncs) << "a failed log must not write or sync again";
  // Reads still answer, from what was committed.
  EXPECT_EQ(storage_->Head(), 2u);
  EXPECT_EQ(ReadEverything().size(), 2u);
  EXPECT_FALSE(storage_->FindCommand("lost").has_value());

  io_.reset();
  OpenStorage();  // a restart

  EXPECT_FALSE(storage_->failed());
  EXPECT_EQ(storage_->Head(), 2u);
  AppendOutcome after = Append(MakeAppend("s", "after", ExpectExact(2)));
  ASSERT_TRUE(after.status.ok()) << after.status.ToString();
  EXPECT_EQ(after.result.first_position(), 3u);
}

TEST_F(LogEventStorageTest, ADiskFullPartWayThroughABatchKeepsNothingOfIt) {
  io_ = std::make_shared<FaultyLogFileIo>();
  OpenStorage();
  AppendEvents("s", "before", 2);
  const uint64_t committed_size = FileSize(LastSegment());
  io_->file_limit_bytes = committed_size + 700;  // part of the batch fits

  std::vector<AppendRequest> requests = {
      MakeAppend("s", "big-1", ExpectExact(2)),
      MakeAppend("t", "big-2", ExpectNoStream()),
  };
  for (AppendRequest& request : requests)
    request.mutable_events(0)->set_data(std::string(1000, 'x'));
  std::vector<AppendOutcome> outcomes = AppendBatch(requests);
  for (auto* request : {&outcomes[0], &outcomes[1]}) {
    EXPECT_EQ(request->status.code(), es::v1::ERROR_CODE_STORAGE_FULL)
        << request->status.ToString();
  }

  EXPECT_NE(outcomes[0].status.message().find("disk full"), std::string::npos)
      << outcomes[0].status.message();
  EXPECT_EQ(FileSize(LastSegment()), committed_size) << "the partial write must be cut off";
  EXPECT_FALSE(storage_->failed()) << "a full disk is not a failure: space can be freed";
  EXPECT_EQ(storage_->Head(), 2u);
  EXPECT_EQ(storage_->StreamVersion("t"), 0u);

  io_->file_limit_bytes = 0;  // space is freed
  AppendOutcome after = Append(requests[0]);
  ASSERT_TRUE(after.status.ok()) << after.status.ToString();
  EXPECT_EQ(after.result.first_position(), 3u);
  io_.reset();
  OpenStorage();
  EXPECT_EQ(storage_->Head(), 3u);
  ExpectGapFree(ReadEverything());
}

TEST_F(LogEventStorageTest, ADiskFullWhileRollingOverFailsTheBatchAndStaysOnTheOldSegment) {
  segment_bytes_ = 4096;
  io_ = std::make_shared<FaultyLogFileIo>();
  OpenStorage();
  AppendEvents("s", "fill", 12, 400);  // the first segment is past 4 KiB now
  ASSERT_EQ(SegmentPaths().size(), 1u);
  io_->full_writes = 1;  // the new segment's header

  AppendOutcome full = Append(MakeAppend("s", "next", ExpectExact(12)));

  EXPECT_EQ(full.status.code(), es::v1::ERROR_CODE_STORAGE_FULL) << full.status.ToString();
  EXPECT_EQ(SegmentPaths().size(), 1u) << "the unfinished segment must be removed";
  AppendOutcome after = Append(MakeAppend("s", "next", ExpectExact(12)));
  ASSERT_TRUE(after.status.ok()) << after.status.ToString();
  EXPECT_EQ(SegmentPaths().size(), 2u);
  OpenStorage();
  EXPECT_EQ(storage_->Head(), 13u);
}

TEST_F(LogEventStorageTest, SubmittedBatchesBecomeVisibleOnlyWhenTakenInOrder) {
  const AppendRequest first = MakeAppend("s", "c1", ExpectNoStream(), 2);
  const AppendRequest second = MakeAppend("s", "c2", ExpectExact(2));
  const AppendRequest repeat = MakeAppend("other", "c1", ExpectAny());  // a repeat of c1
  const AppendRequest* batch1[] = {&first};
  const AppendRequest* batch2[] = {&second, &repeat};

  storage_->Submit(batch1, kRecordedAt);
  storage_->Submit(batch2, kRecordedAt);

  EXPECT_EQ(storage_->InFlight(), 2u);
  // Nothing is visible before it is taken, durable or not.
  EXPECT_EQ(storage_->Head(), 0u);
  EXPECT_EQ(storage_->StreamVersion("s"), 0u);
  EXPECT_FALSE(storage_->FindCommand("c1").has_value());
  es::v1::ReadStreamResult unseen;
  ASSERT_TRUE(storage_->ReadStream("s", 1, ReadLimits{}, &unseen).ok());
  EXPECT_EQ(unseen.events_size(), 0);
  EXPECT_EQ(unseen.stream_version(), 0u);

  std::vector<AppendOutcome> outcomes1 = TakeNext();
  ASSERT_EQ(outcomes1.size(), 1u);
  ASSERT_TRUE(outcomes1[0].status.ok()) << outcomes1[0].status.ToString();
  EXPECT_EQ(outcomes1[0].result.last_position(), 2u);
  EXPECT_EQ(storage_->Head(), 2u);
  std::vector<AppendOutcome> outcomes2 = TakeNext();
  ASSERT_EQ(outcomes2.size(), 2u);
  ASSERT_TRUE(outcomes2[0].status.ok()) << outcomes2[0].status.ToString();
  EXPECT_EQ(outcomes2[0].result.first_position(), 3u);
  ASSERT_TRUE(outcomes2[1].status.ok()) << outcomes2[1].status.ToString();
  EXPECT_TRUE(outcomes2[1].result.duplicate());
  EXPECT_EQ(outcomes2[1].result.first_position(), 1u);
  EXPECT_EQ(storage_->InFlight(), 0u);
  EXPECT_EQ(storage_->Head(), 3u);
  OpenStorage();
  EXPECT_EQ(storage_->Head(), 3u);
  ExpectGapFree(ReadEverything());
}

TEST_F(LogEventStorageTest, AFailedBatchFailsTheBatchesPlannedOnTopOfIt) {
  io_ = std::make_shared<FaultyLogFileIo>();
  OpenStorage();
  AppendEvents("s", "before", 1);
  io_->full_writes = 1;
  const AppendRequest first = MakeAppend("s", "c1", ExpectExact(1));
  const AppendRequest second = MakeAppend("s", "c2", ExpectExact(2));  // needs c1
  const AppendRequest stale = MakeAppend("s", "c3", ExpectExact(1));   // refused after c1
  const AppendRequest repeat = MakeAppend("x", "c1", ExpectAny());     // a repeat of c1
  const AppendRequest malformed = MakeAppend("", "c4", ExpectAny());
  const AppendRequest* batch1[] = {&first};
  const AppendRequest* batch2[] = {&second, &stale, &repeat, &malformed};

  storage_->Submit(batch1, kRecordedAt);
  storage_->Submit(batch2, kRecordedAt);
  std::vector<AppendOutcome> outcomes1 = TakeNext();
  std::vector<AppendOutcome> outcomes2 = TakeNext();

  EXPECT_EQ(outcomes1[0].status.code(), es::v1::ERROR_CODE_STORAGE_FULL);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(outcomes2[i].status.code(), es::v1::ERROR_CODE_STORAGE_FULL)
        << i << ": " << outcomes2[i].status.ToString();
  }
  EXPECT_EQ(outcomes2[3].status.code(), es::v1::ERROR_CODE_BAD_REQUEST);
  EXPECT_EQ(storage_->Head(), 1u);
  EXPECT_EQ(storage_->StreamVersion("s"), 1u);
  EXPECT_FALSE(storage_->FindCommand("c1").has_value());
  // The next batch is planned on the state before the failure.
  AppendOutcome retry = Append(MakeAppend("s", "c2", ExpectExact(1)));
  ASSERT_TRUE(retry.status.ok()) << retry.status.ToString();
  EXPECT_EQ(retry.result.first_position(), 2u);
  OpenStorage();
  EXPECT_EQ(storage_->Head(), 2u);
  ExpectGapFree(ReadEverything());
}

TEST_F(LogEventStorageTest, ManySubmittedBatchesShareSyncsAndSurviveReopen) {
  io_ = std::make_shared<FaultyLogFileIo>();
  OpenStorage();
  std::vector<AppendRequest> requests;
  for (int i = 0; i < 200; ++i) {
    requests.push_back(
        MakeAppend("s-" + std::to_string(i % 7), "c" + std::to_string(i), ExpectAny(), 1 + i % 3));
  }
  const int syncs_before = io_->syncs;
  for (const AppendRequest& request : requests) {
    const AppendRequest* batch[] = {&request};
    storage_->Submit(batch, kRecordedAt);
  }
  uint64_t expected_first = 1;
  for (int i = 0; i < 200; ++i) {
    std::vector<AppendOutcome> outcomes = TakeNext();
    ASSERT_EQ(outcomes.size(), 1u);
    ASSERT_TRUE(outcomes[0].status.ok()) << outcomes[0].status.ToString();
    ASSERT_EQ(outcomes[0].result.first_position(), expected_first);
    expected_first = outcomes[0].result.last_position() + 1;
  }
  std::cout << "[ log ] 200 submitted batches took " << io_->syncs - syncs_before
            << " fdatasync(s)\n";
  EXPECT_LE(io_->syncs - syncs_before, 200);
  io_.reset();
  OpenStorage();
  EXPECT_EQ(storage_->Head(), expected_first - 1);
  ExpectGapFree(ReadEverything(64));
}

}  // namespace
}  // namespace es::store
