// Every storage engine against real files: the EventStorage contract
// (event_storage.h), including reopen and a full disk. Each test runs once
// per engine (SQLite, the segmented log); log-engine specifics (torn
// batches, corruption, segments, fsync failures) are in
// store_log_storage_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "store_service/log_event_storage.h"
#include "store_service/sqlite_event_storage.h"
#include "tests/store_storage_engines.h"
#include "tests/support/proto_equals.h"
#include "tests/support/store_requests.h"
#include "tests/support/temp_dir.h"

namespace es::store {
namespace {

using es::testing::ExpectAny;
using es::testing::ExpectExact;
using es::testing::ExpectNoStream;
using es::testing::MakeAppend;
using es::testing::ProtoEquals;
using es::v1::AppendRequest;

constexpr int64_t kRecordedAt = 1'700'000'000'123'456;

class EventStorageTest : public ::testing::TestWithParam<es::testing::Engine> {
 protected:
  void SetUp() override { OpenStorage(); }

  es::testing::EngineSettings Settings() const {
    es::testing::EngineSettings settings;
    settings.limits = limits_;
    settings.disk_limit_bytes = disk_limit_bytes_;
    return settings;
  }

  // (Re)opens the storage on the same files; the old one is closed first.
  void OpenStorage() {
    storage_.reset();
    storage_ = es::testing::MakeStorage(GetParam(), dir_, Settings());
    Status status = storage_->Open();
    ASSERT_TRUE(status.ok()) << status.ToString();
  }

  AppendOutcome Append(const AppendRequest& request) {
    return storage_->AppendOne(request, kRecordedAt);
  }

  std::vector<AppendOutcome> AppendBatch(const std::vector<AppendRequest>& requests) {
    std::vector<const AppendRequest*> batch;
    for (const AppendRequest& request : requests) batch.push_back(&request);
    return storage_->Append(batch, kRecordedAt);
  }

  es::v1::ReadStreamResult ReadStream(const std::string& stream_id, uint64_t from_version = 1,
                                      ReadLimits limits = {}) {
    es::v1::ReadStreamResult result;
    Status status = storage_->ReadStream(stream_id, from_version, limits, &result);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return result;
  }

  es::v1::ReadAllResult ReadAll(uint64_t from_position, const std::string& prefix = "",
                                ReadLimits limits = {}) {
    es::v1::ReadAllResult result;
    Status status = storage_->ReadAll(from_position, prefix, limits, &result);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return result;
  }

  // Every event in the log, read in pages.
  std::vector<es::v1::EventRecord> ReadEverything() {
    std::vector<es::v1::EventRecord> events;
    ReadLimits limits;
    limits.max_count = 137;  // pages that do not line up with appends
    uint64_t from = 1;
    while (true) {
      es::v1::ReadAllResult page = ReadAll(from, "", limits);
      events.insert(events.end(), page.events().begin(), page.events().end());
      if (page.scanned_through() >= page.head_position()) break;
      EXPECT_GE(page.scanned_through(), from) << "a read must make progress";
      from = page.scanned_through() + 1;
    }
    return events;
  }

  es::testing::TempDir dir_;
  AppendLimits limits_;
  // 0 = no limit.
  uint64_t disk_limit_bytes_ = 0;
  std::unique_ptr<EventStorage> storage_;
};

INSTANTIATE_TEST_SUITE_P(Engines, EventStorageTest,
                         ::testing::Values(es::testing::Engine::kSqlite, es::testing::Engine::kLog),
                         es::testing::EngineTestName);

es::v1::AppendResult Result(const std::string& stream, uint64_t first_version,
                            uint64_t last_version, uint64_t first_position, uint64_t last_position,
                            bool duplicate = false) {
  es::v1::AppendResult result;
  result.set_stream_id(stream);
  result.set_first_version(first_version);
  result.set_last_version(last_version);
  result.set_first_position(first_position);
  result.set_last_position(last_position);
  result.set_duplicate(duplicate);
  return result;
}

TEST_P(EventStorageTest, RoundTripsEveryEventRecordField) {
  AppendRequest request = MakeAppend("account-1", "cmd-1", ExpectNoStream(), 2);
  request.mutable_events(0)->set_data(std::string("\0\xff binary \x01", 12));
  request.mutable_events(1)->set_data("");
  request.mutable_events(1)->set_type("es.v1.AccountOpened");

  AppendOutcome outcome = Append(request);

  ASSERT_TRUE(outcome.status.ok()) << outcome.status.ToString();
  EXPECT_TRUE(ProtoEquals(Result("account-1", 1, 2, 1, 2), outcome.result));
  es::v1::ReadStreamResult read = ReadStream("account-1");
  ASSERT_EQ(read.events_size(), 2);
  for (int i = 0; i < 2; ++i) {
    es::v1::EventRecord expected;
    expected.set_event_id(request.events(i).event_id());
    expected.set_stream_id("account-1");
    expected.set_stream_version(i + 1);
    expected.set_global_position(i + 1);
    expected.set_type(request.events(i).type());
    expected.set_data(request.events(i).data());
    expected.set_recorded_at_us(kRecordedAt);
    expected.set_command_id("cmd-1");
    EXPECT_TRUE(ProtoEquals(expected, read.events(i)));
    EXPECT_TRUE(ProtoEquals(expected, CommittedRecord(request, i, outcome.result, kRecordedAt)));
  }
  EXPECT_EQ(read.stream_version(), 2u);
  EXPECT_TRUE(read.end_of_stream());
  es::v1::ReadAllResult all = ReadAll(1);
  ASSERT_EQ(all.events_size(), 2);
  EXPECT_TRUE(ProtoEquals(read.events(0), all.events(0)));
  EXPECT_TRUE(ProtoEquals(read.events(1), all.events(1)));
}

TEST_P(EventStorageTest, RefusesStaleExpectedVersionAndReportsCurrentVersion) {
  ASSERT_TRUE(Append(MakeAppend("s", "c1", ExpectNoStream(), 3)).status.ok());

  AppendOutcome stale = Append(MakeAppend("s", "c2", ExpectExact(1)));

  EXPECT_EQ(stale.status.code(), es::v1::ERROR_CODE_WRONG_EXPECTED_VERSION);
  EXPECT_EQ(stale.current_version, 3u);
  EXPECT_NE(stale.status.message().find("version 3"), std::string::npos) << stale.status.message();
  EXPECT_NE(stale.status.message().find("version 1"), std::string::npos) << stale.status.message();
  EXPECT_EQ(storage_->Head(), 3u);
  EXPECT_EQ(storage_->StreamVersion("s"), 3u);
  EXPECT_FALSE(storage_->FindCommand("c2").has_value());
}

TEST_P(EventStorageTest, RefusesNoStreamWhenTheStreamExists) {
  ASSERT_TRUE(Append(MakeAppend("s", "c1", ExpectNoStream())).status.ok());

  AppendOutcome outcome = Append(MakeAppend("s", "c2", ExpectNoStream()));

  EXPECT_EQ(outcome.status.code(), es::v1::ERROR_CODE_WRONG_EXPECTED_VERSION);
  EXPECT_EQ(outcome.current_version, 1u);
  EXPECT_EQ(storage_->Head(), 1u);
}

TEST_P(EventStorageTest, AcceptsExactCurrentVersionExactZeroForANewStreamAndAny) {
  EXPECT_TRUE(Append(MakeAppend("s", "c1", ExpectExact(0))).status.ok());
  EXPECT_TRUE(Append(MakeAppend("s", "c2", ExpectExact(1), 2)).status.ok());
  AppendOutcome any = Append(MakeAppend("s", "c3", ExpectAny()));

  ASSERT_TRUE(any.status.ok()) << any.status.ToString();
  EXPECT_TRUE(ProtoEquals(Result("s", 4, 4, 4, 4), any.result));
}

TEST_P(EventStorageTest, RepeatedCommandIdWritesNothingAndReturnsTheFirstResult) {
  AppendOutcome first = Append(MakeAppend("s", "cmd", ExpectNoStream(), 2));
  ASSERT_TRUE(first.status.ok());

  // A retry, even one that differs, is answered from the first append.
  AppendOutcome repeat = Append(MakeAppend("other", "cmd", ExpectAny(), 5));

  ASSERT_TRUE(repeat.status.ok()) << repeat.status.ToString();
  EXPECT_TRUE(ProtoEquals(Result("s", 1, 2, 1, 2, /*duplicate=*/true), repeat.result));
  EXPECT_EQ(storage_->Head(), 2u);
  EXPECT_EQ(storage_->StreamVersion("other"), 0u);
}

TEST_P(EventStorageTest, RepeatedCommandIdIsCheckedBeforeTheExpectedVersion) {
  ASSERT_TRUE(Append(MakeAppend("s", "cmd", ExpectNoStream())).status.ok());
  ASSERT_TRUE(Append(MakeAppend("s", "later", ExpectExact(1))).status.ok());

  // The retry's expected version is stale now; it must still get its result.
  AppendOutcome retry = Append(MakeAppend("s", "cmd", ExpectNoStream()));

  ASSERT_TRUE(retry.status.ok()) << retry.status.ToString();
  EXPECT_TRUE(ProtoEquals(Result("s", 1, 1, 1, 1, /*duplicate=*/true), retry.result));
  EXPECT_EQ(storage_->Head(), 2u);
}

TEST_P(EventStorageTest, CommandIdRepeatedWithinOneBatchIsADuplicateOfTheFirst) {
  std::vector<AppendOutcome> outcomes = AppendBatch({
      MakeAppend("a", "cmd", ExpectNoStream(), 2),
      MakeAppend("b", "cmd", ExpectNoStream(), 1),
  });

  ASSERT_TRUE(outcomes[0].status.ok());
  ASSERT_TRUE(outcomes[1].status.ok()) << outcomes[1].status.ToString();
  EXPECT_TRUE(ProtoEquals(Result("a", 1, 2, 1, 2), outcomes[0].result));
  EXPECT_TRUE(ProtoEquals(Result("a", 1, 2, 1, 2, /*duplicate=*/true), outcomes[1].result));
  EXPECT_EQ(storage_->Head(), 2u);
  EXPECT_EQ(storage_->StreamVersion("b"), 0u);
  EXPECT_EQ(ReadAll(1).events_size(), 2);
}

TEST_P(EventStorageTest, AppendsInOneBatchSeeEarlierAppendsOfTheBatch) {
  std::vector<AppendOutcome> outcomes = AppendBatch({
      MakeAppend("s", "c1", ExpectNoStream(), 2),
      MakeAppend("s", "c2", ExpectExact(2), 1),
      MakeAppend("s", "c3", ExpectExact(2), 1),  // stale: c2 made it 3
      MakeAppend("t", "c4", ExpectNoStream(), 1),
  });

  ASSERT_TRUE(outcomes[0].status.ok());
  ASSERT_TRUE(outcomes[1].status.ok()) << outcomes[1].status.ToString();
  EXPECT_TRUE(ProtoEquals(Result("s", 3, 3, 3, 3), outcomes[1].result));
  EXPECT_EQ(outcomes[2].status.code(), es::v1::ERROR_CODE_WRONG_EXPECTED_VERSION);
  EXPECT_EQ(outcomes[2].current_version, 3u);
  // A refusal does not disturb the rest of the batch.
  ASSERT_TRUE(outcomes[3].status.ok());
  EXPECT_TRUE(ProtoEquals(Result("t", 1, 1, 4, 4), outcomes[3].result));
  EXPECT_EQ(storage_->Head(), 4u);
}

TEST_P(EventStorageTest, GlobalPositionsAreGapFreeAndOrderedAcrossManyStreams) {
  constexpr int kStreams = 50;
  constexpr int kRounds = 20;
  std::mt19937 random(42);
  for (int round = 0; round < kRounds; ++round) {
    std::vector<AppendRequest> batch;
    for (int s = 0; s < kStreams; ++s) {
      batch.push_back(MakeAppend("stream-" + std::to_string(s),
                                 "r" + std::to_string(round) + "-s" + std::to_string(s),
                                 ExpectExact(round)));
    }
    std::shuffle(batch.begin(), batch.end(), random);
    for (const AppendOutcome& outcome : AppendBatch(batch)) {
      ASSERT_TRUE(outcome.status.ok()) << outcome.status.ToString();
    }
  }

  std::vector<es::v1::EventRecord> events = ReadEverything();
  ASSERT_EQ(events.size(), size_t{kStreams * kRounds});
  std::map<std::string, uint64_t> last_version;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].global_position(), i + 1);
    EXPECT_EQ(events[i].stream_version(), ++last_version[events[i].stream_id()]);
  }
  for (int s = 0; s < kStreams; ++s) {
    es::v1::ReadStreamResult stream = ReadStream("stream-" + std::to_string(s));
    ASSERT_EQ(stream.events_size(), kRounds);
    for (int v = 1; v < kRounds; ++v) {
      EXPECT_LT(stream.events(v - 1).global_position(), stream.events(v).global_position());
    }
  }
  EXPECT_EQ(storage_->StreamCount(), uint64_t{kStreams});
}

TEST_P(EventStorageTest, ReopenRebuildsVersionsCommandIdsAndStreamReads) {
  ASSERT_TRUE(Append(MakeAppend("a", "c1", ExpectNoStream(), 3)).status.ok());
  ASSERT_TRUE(Append(MakeAppend("b", "c2", ExpectNoStream(), 1)).status.ok());
  ASSERT_TRUE(Append(MakeAppend("a", "c3", ExpectExact(3), 2)).status.ok());
  ASSERT_TRUE(Append(MakeAppend("b", "c4", ExpectExact(1), 1)).status.ok());
  es::v1::ReadStreamResult a_before = ReadStream("a");

  OpenStorage();

  EXPECT_EQ(storage_->Head(), 7u);
  EXPECT_EQ(storage_->StreamCount(), 2u);
  EXPECT_EQ(storage_->StreamVersion("a"), 5u);
  EXPECT_EQ(storage_->StreamVersion("b"), 2u);
  ASSERT_TRUE(storage_->FindCommand("c3").has_value());
  EXPECT_TRUE(ProtoEquals(Result("a", 4, 5, 5, 6), *storage_->FindCommand("c3")));
  EXPECT_TRUE(ProtoEquals(Result("b", 2, 2, 7, 7), *storage_->FindCommand("c4")));
  EXPECT_TRUE(ProtoEquals(a_before, ReadStream("a")));
  // The rebuilt indexes drive appends exactly as the old ones did.
  AppendOutcome retry = Append(MakeAppend("a", "c1", ExpectNoStream()));
  EXPECT_TRUE(ProtoEquals(Result("a", 1, 3, 1, 3, /*duplicate=*/true), retry.result));
  EXPECT_EQ(Append(MakeAppend("a", "c5", ExpectExact(4))).current_version, 5u);
  AppendOutcome next = Append(MakeAppend("a", "c6", ExpectExact(5)));
  EXPECT_TRUE(ProtoEquals(Result("a", 6, 6, 8, 8), next.result));
}

TEST_P(EventStorageTest, ReadStreamPagesAndReportsEndOfStream) {
  ASSERT_TRUE(Append(MakeAppend("s", "c1", ExpectNoStream(), 5)).status.ok());
  ReadLimits two;
  two.max_count = 2;

  es::v1::ReadStreamResult middle = ReadStream("s", 2, two);
  es::v1::ReadStreamResult tail = ReadStream("s", 4);
  es::v1::ReadStreamResult missing = ReadStream("nothing-here");

  ASSERT_EQ(middle.events_size(), 2);
  EXPECT_EQ(middle.events(0).stream_version(), 2u);
  EXPECT_EQ(middle.events(1).stream_version(), 3u);
  EXPECT_FALSE(middle.end_of_stream());
  EXPECT_EQ(middle.stream_version(), 5u);
  ASSERT_EQ(tail.events_size(), 2);
  EXPECT_TRUE(tail.end_of_stream());
  EXPECT_EQ(missing.events_size(), 0);
  EXPECT_EQ(missing.stream_version(), 0u);
  EXPECT_TRUE(missing.end_of_stream());
}

TEST_P(EventStorageTest, ReadsStopAtTheByteLimitButAlwaysReturnOneEvent) {
  AppendRequest big = MakeAppend("s", "c1", ExpectNoStream(), 3);
  for (auto& event : *big.mutable_events()) event.set_data(std::string(1000, 'x'));
  ASSERT_TRUE(Append(big).status.ok());
  ReadLimits small;
  small.max_bytes = 10;

  es::v1::ReadStreamResult stream = ReadStream("s", 1, small);
  es::v1::ReadAllResult all = ReadAll(1, "", small);

  EXPECT_EQ(stream.events_size(), 1);
  EXPECT_FALSE(stream.end_of_stream());
  EXPECT_EQ(all.events_size(), 1);
  EXPECT_EQ(all.scanned_through(), 1u);
}

TEST_P(EventStorageTest, ReadAllFiltersByPrefixAndReportsScannedThrough) {
  // Positions: 1 acct-1, 2 xfer-1, 3 acct-2, 4 xfer-1, 5 acct-1, 6 xfer-2.
  const char* streams[] = {"acct-1", "xfer-1", "acct-2", "xfer-1", "acct-1", "xfer-2"};
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(Append(MakeAppend(streams[i], "c" + std::to_string(i), ExpectAny())).status.ok());
  }
  auto positions = [](const es::v1::ReadAllResult& result) {
    std::vector<uint64_t> out;
    for (const auto& event : result.events()) out.push_back(event.global_position());
    return out;
  };

  es::v1::ReadAllResult accounts = ReadAll(1, "acct-");
  EXPECT_EQ(positions(accounts), (std::vector<uint64_t>{1, 3, 5}));
  EXPECT_EQ(accounts.scanned_through(), 6u);
  EXPECT_EQ(accounts.head_position(), 6u);

  ReadLimits two;
  two.max_count = 2;
  es::v1::ReadAllResult first_two = ReadAll(1, "acct-", two);
  EXPECT_EQ(positions(first_two), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(first_two.scanned_through(), 3u);

  ReadLimits scan_four;
  scan_four.max_scanned = 4;
  es::v1::ReadAllResult transfers = ReadAll(2, "xfer-", scan_four);
  EXPECT_EQ(positions(transfers), (std::vector<uint64_t>{2, 4}));
  EXPECT_EQ(transfers.scanned_through(), 5u);

  es::v1::ReadAllResult none = ReadAll(1, "nobody-");
  EXPECT_EQ(none.events_size(), 0);
  EXPECT_EQ(none.scanned_through(), 6u);

  es::v1::ReadAllResult beyond = ReadAll(9);
  EXPECT_EQ(beyond.events_size(), 0);
  EXPECT_EQ(beyond.scanned_through(), 6u);
}

struct InvalidAppend {
  std::string name;
  es::v1::ErrorCode code;
  std::function<void(AppendRequest*)> spoil;
};

TEST_P(EventStorageTest, RefusesInvalidAppendsAndWritesNothing) {
  limits_.max_events = 5;
  limits_.max_payload_bytes = 1024;
  limits_.max_id_bytes = 64;
  OpenStorage();
  const std::vector<InvalidAppend> cases = {
      {"empty stream id", es::v1::ERROR_CODE_BAD_REQUEST,
       [](AppendRequest* r) { r->clear_stream_id(); }},
      {"stream id starting with a control byte", es::v1::ERROR_CODE_BAD_REQUEST,
       [](AppendRequest* r) { r->set_stream_id("\x01hb"); }},
      {"stream id too long", es::v1::ERROR_CODE_BAD_REQUEST,
       [](AppendRequest* r) { r->set_stream_id(std::string(65, 's')); }},
      {"missing command id", es::v1::ERROR_CODE_BAD_REQUEST,
       [](AppendRequest* r) { r->clear_command_id(); }},
      {"command id too long", es::v1::ERROR_CODE_BAD_REQUEST,
       [](AppendRequest* r) { r->set_command_id(std::string(65, 'c')); }},
      {"no events", es::v1::ERROR_CODE_BAD_REQUEST, [](AppendRequest* r) { r->clear_events(); }},
      {"missing expected version", es::v1::ERROR_CODE_BAD_REQUEST,
       [](AppendRequest* r) { r->clear_expected_version(); }},
      {"expected version without a kind", es::v1::ERROR_CODE_BAD_REQUEST,
       [](AppendRequest* r) { r->mutable_expected_version()->clear_kind(); }},
      {"event without id", es::v1::ERROR_CODE_BAD_REQUEST,
       [](AppendRequest* r) { r->mutable_events(0)->clear_event_id(); }},
      {"event id too long", es::v1::ERROR_CODE_BAD_REQUEST,
       [](AppendRequest* r) { r->mutable_events(0)->set_event_id(std::string(65, 'e')); }},
      {"event without type", es::v1::ERROR_CODE_BAD_REQUEST,
       [](AppendRequest* r) { r->mutable_events(0)->clear_type(); }},
      {"too many events", es::v1::ERROR_CODE_TOO_LARGE,
       [](AppendRequest* r) { *r = MakeAppend(r->stream_id(), r->command_id(), ExpectAny(), 6); }},
      {"too many bytes", es::v1::ERROR_CODE_TOO_LARGE,
       [](AppendRequest* r) { r->mutable_events(0)->set_data(std::string(1025, 'd')); }},
  };
  for (const InvalidAppend& invalid : cases) {
    SCOPED_TRACE(invalid.name);
    AppendRequest request = MakeAppend("s", "cmd", ExpectAny(), 1);
    invalid.spoil(&request);

    AppendOutcome outcome = Append(request);

    EXPECT_EQ(outcome.status.code(), invalid.code) << outcome.status.ToString();
    EXPECT_FALSE(outcome.status.message().empty());
    EXPECT_EQ(storage_->Head(), 0u);
    EXPECT_EQ(storage_->StreamCount(), 0u);
    EXPECT_FALSE(storage_->FindCommand(request.command_id()).has_value());
  }
  OpenStorage();
  EXPECT_EQ(storage_->Head(), 0u);
}

TEST_P(EventStorageTest, FullDiskFailsTheWholeBatchAndLeavesIndexesUnchanged) {
  disk_limit_bytes_ = 64 * 1024;  // room for small events, not for 100 KiB
  OpenStorage();
  ASSERT_TRUE(Append(MakeAppend("s", "c1", ExpectNoStream(), 2)).status.ok());
  AppendRequest huge = MakeAppend("big", "c4", ExpectNoStream());
  huge.mutable_events(0)->set_data(std::string(100'000, 'x'));

  std::vector<AppendOutcome> outcomes = AppendBatch({
      MakeAppend("s", "c2", ExpectExact(2)),        // would succeed alone
      MakeAppend("t", "c2", ExpectAny()),           // duplicate of the batch's c2
      MakeAppend("s", "c1", ExpectAny()),           // duplicate of a committed append
      MakeAppend("s", "c3", ExpectExact(0)),        // refused on its own merits
      huge, MakeAppend("s", "c5", ExpectExact(3)),  // after the failure: not tried
  });

  EXPECT_EQ(outcomes[0].status.code(), es::v1::ERROR_CODE_STORAGE_FULL)
      << outcomes[0].status.ToString();
  EXPECT_EQ(outcomes[1].status.code(), es::v1::ERROR_CODE_STORAGE_FULL);
  ASSERT_TRUE(outcomes[2].status.ok()) << outcomes[2].status.ToString();
  EXPECT_TRUE(ProtoEquals(Result("s", 1, 2, 1, 2, /*duplicate=*/true), outcomes[2].result));
  EXPECT_EQ(outcomes[3].status.code(), es::v1::ERROR_CODE_WRONG_EXPECTED_VERSION);
  EXPECT_EQ(outcomes[4].status.code(), es::v1::ERROR_CODE_STORAGE_FULL);
  EXPECT_EQ(outcomes[5].status.code(), es::v1::ERROR_CODE_STORAGE_FULL);
  EXPECT_EQ(storage_->Head(), 2u);
  EXPECT_EQ(storage_->StreamVersion("s"), 2u);
  EXPECT_EQ(storage_->StreamVersion("big"), 0u);
  EXPECT_EQ(storage_->StreamCount(), 1u);
  EXPECT_FALSE(storage_->FindCommand("c2").has_value());
  EXPECT_FALSE(storage_->FindCommand("c4").has_value());
  // The storage goes on: a small append fits, right after the old head.
  AppendOutcome after = Append(MakeAppend("s", "c2", ExpectExact(2)));
  ASSERT_TRUE(after.status.ok()) << after.status.ToString();
  EXPECT_TRUE(ProtoEquals(Result("s", 3, 3, 3, 3), after.result));

  disk_limit_bytes_ = 0;
  OpenStorage();
  EXPECT_EQ(storage_->Head(), 3u);
  EXPECT_EQ(ReadEverything().size(), 3u);
}

TEST_P(EventStorageTest, ASecondStorageCannotOpenTheSameFiles) {
  std::unique_ptr<EventStorage> second = es::testing::MakeStorage(GetParam(), dir_, Settings());

  Status status = second->Open();

  EXPECT_EQ(status.code(), es::v1::ERROR_CODE_STORAGE_FAILURE) << status.ToString();
}

}  // namespace
}  // namespace es::store
