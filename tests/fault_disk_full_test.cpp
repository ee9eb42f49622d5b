// store_service (each engine) on a disk that fills up: it refuses appends with
// STORAGE_FULL (nothing half-written, nothing acknowledged lost), keeps
// serving reads and pings while full (and restarts there), and takes appends
// again, at the next contiguous position, as soon as space is freed. The disk
// is a small tmpfs (2 or 6 MiB) the test mounts (root only; skipped
// otherwise) and grows later with mount -o remount,size=...
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/fault_system.h"
#include "tests/support/fault_tmpfs.h"
#include "tests/support/service_process.h"
#include "tests/support/store_requests.h"
#include "tests/support/store_test_client.h"
#include "tests/support/temp_dir.h"

namespace es::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr size_t kPayloadBytes = 1024;

// 1 KiB of data that names its command, so a read can be checked byte for
// byte.
std::string PayloadOf(const std::string& command_id) {
  std::string payload = command_id + ":";
  while (payload.size() < kPayloadBytes) payload += static_cast<char>('a' + payload.size() % 26);
  return payload;
}

es::v1::StoreRequest FillAppend(const std::string& command_id, uint64_t request_id) {
  es::v1::AppendRequest append =
      MakeAppend("fill-" + std::to_string(request_id % 8), command_id, ExpectAny(), 1);
  append.mutable_events(0)->set_data(PayloadOf(command_id));
  es::v1::StoreRequest request = AppendRequestOf(std::move(append));
  request.set_request_id(request_id);
  return request;
}

bool IsStorageFull(const es::v1::StoreReply& reply) {
  return reply.has_error() && reply.error().code() == es::v1::ERROR_CODE_STORAGE_FULL;
}

// One way to fill the disk.
struct DiskFullCase {
  std::string name;
  std::string engine;                   // store_service --engine
  std::vector<std::string> extra_args;  // more store_service flags
  std::string size;                     // the tmpfs at first
  std::string grown_size;               // after space is freed
  int more_after;                       // KiB appended once it has grown
  bool restart_while_full;              // restart the store on the full disk too
};

void PrintTo(const DiskFullCase& c, std::ostream* out) { *out << c.name; }

class DiskFullTest : public ::testing::TestWithParam<DiskFullCase> {
 protected:
  void SetUp() override {
    std::optional<std::vector<std::string>> engine = StoreEngineArgs(dir_, GetParam().engine);
    if (!engine) GTEST_SKIP() << "this store_service has no engine " << GetParam().engine;
    engine_args_ = *engine;
    engine_args_.insert(engine_args_.end(), GetParam().extra_args.begin(),
                        GetParam().extra_args.end());
    const std::string error = disk_.Mount(dir_.File("small"), GetParam().size);
    if (error.empty()) return;
    if (disk_.permission_denied()) {
      GTEST_SKIP() << "cannot mount a tmpfs for the full-disk test (needs root or "
                      "CAP_SYS_ADMIN): "
                   << error;
    }
    FAIL() << error;
  }

  // The store is stopped before the disk is unmounted, even on failure.
  void TearDown() override {
    store_.reset();
    disk_.Unmount();
  }

  void StartStoreOnSmallDisk() {
    store_.reset();
    // The service's log stays off the small disk: only the store's data
    // fills it.
    std::vector<std::string> args = {"--data-dir",      disk_.path() + "/store",
                                     "--bind-requests", "tcp://127.0.0.1:*",
                                     "--bind-events",   "tcp://127.0.0.1:*"};
    args.insert(args.end(), engine_args_.begin(), engine_args_.end());
    store_.emplace(
        ServiceProcess::Start(BinaryPath("store_service"), args, dir_.File("store.log")));
  }
  const std::string& requests() const { return store_->endpoint("requests"); }

  // Checks that the store holds exactly `acked` (command id -> result), each
  // event with its payload, at gap-free positions.
  void ExpectLogIsExactly(const std::map<std::string, es::v1::AppendResult>& acked) {
    std::vector<es::v1::EventRecord> log = ReadLogFromStore(context_, requests(), 500);
    ASSERT_EQ(log.size(), acked.size()) << "the log holds something other than the acked appends";
    for (size_t i = 0; i < log.size(); ++i) {
      ASSERT_EQ(log[i].global_position(), i + 1);
    }
    for (const auto& [command, result] : acked) {
      ASSERT_GE(result.first_position(), 1u);
      ASSERT_LE(result.first_position(), log.size()) << command;
      const es::v1::EventRecord& event = log[result.first_position() - 1];
      ASSERT_EQ(event.command_id(), command);
      ASSERT_EQ(event.stream_id(), result.stream_id());
      ASSERT_EQ(event.stream_version(), result.first_version());
      ASSERT_EQ(event.data(), PayloadOf(command)) << "at position " << result.first_position();
    }
  }

  TempDir dir_;
  std::vector<std::string> engine_args_;
  TmpfsMount disk_;
  zmq::context_t context_;
  std::optional<ServiceProcess> store_;  // destroyed (killed) before the unmount
};

// Fill the disk; check the store while full (restarting it there too, in
// some cases); free space; append more; restart.
TEST_P(DiskFullTest, StoreRefusesAppendsWhenTheDiskIsFullAndRecovers) {
  const bool restart_while_full = GetParam().restart_while_full;
  StartStoreOnSmallDisk();
  std::map<std::string, es::v1::AppendResult> acked;
  uint64_t next_id = 1;
  auto command_of = [](uint64_t id) { return "fill-" + std::to_string(id); };

  // 1. Pipelined 1 KiB appends until the store says the disk is full.
  std::optional<es::v1::Error> first_full;
  {
    constexpr int kWindow = 32;
    constexpr uint64_t kMaxAppends = 20'000;  // 20 MiB: far more than 2 MiB holds
    StoreTestClient client(context_, requests());
    int in_flight = 0;
    while (true) {
      while (!first_full && in_flight < kWindow && next_id <= kMaxAppends) {
        client.Send(FillAppend(command_of(next_id), next_id));
        ++next_id;
        ++in_flight;
      }
      if (in_flight == 0) break;
      std::optional<es::v1::StoreReply> reply = client.Receive(seconds(20));
      ASSERT_TRUE(reply.has_value()) << "the store stopped answering:\n" << store_->ReadLog();
      --in_flight;
      if (reply->has_append()) {
        acked[command_of(reply->request_id())] = reply->append();
      } else {
        ASSERT_TRUE(IsStorageFull(*reply)) << reply->DebugString();
        if (!first_full) first_full = reply->error();
      }
    }
    ASSERT_TRUE(first_full.has_value())
        << "no STORAGE_FULL after " << kMaxAppends << " KiB on a 2 MiB disk";
  }
  std::cout << "[ disk full ] first refusal after " << acked.size()
            << " acked 1 KiB appends: " << first_full->message() << "\n";
  EXPECT_NE(first_full->message().find("full"), std::string::npos)
      << "the message should say the disk is full: " << first_full->message();
  EXPECT_NE(store_->ReadLog().find("ERROR_CODE_STORAGE_FULL"), std::string::npos)
      << "the store should log why it refused";

  // 2. What space the failed batch left (a grown WAL file) may still take a
  //    few single appends; fill it until even one is refused.
  StoreTestClient client(context_, requests());
  int refused_in_a_row = 0;
  for (int i = 0; i < 2000 && refused_in_a_row < 3; ++i) {
    const uint64_t id = next_id++;
    es::v1::StoreReply reply = client.Call(FillAppend(command_of(id), id), seconds(20));
    if (reply.has_append()) {
      acked[command_of(id)] = reply.append();
      refused_in_a_row = 0;
    } else {
      ASSERT_TRUE(IsStorageFull(reply)) << reply.DebugString();
      ++refused_in_a_row;
    }
  }
  ASSERT_EQ(refused_in_a_row, 3) << "the disk never filled";
  const uint64_t head_when_full = acked.size();
  std::cout << "[ disk full ] full at " << head_when_full << " events, " << disk_.FreeBytes()
            << " bytes free on the tmpfs\n";

  // 3. Full, the store still answers pings and reads, from what it acked.
  es::v1::StoreReply pong = client.Call(PingRequest(), seconds(10));
  ASSERT_TRUE(pong.has_pong()) << pong.DebugString();
  EXPECT_EQ(pong.pong().head_position(), head_when_full);
  ExpectLogIsExactly(acked);
  if (HasFatalFailure()) return;
  es::v1::StoreReply still_full = client.Call(FillAppend("still-full", next_id++), seconds(10));
  EXPECT_TRUE(IsStorageFull(still_full)) << still_full.DebugString();
  if (restart_while_full) {
    ExitStatus exit = store_->Terminate(seconds(20));
    EXPECT_TRUE(exit.exited && exit.exit_code == 0) << store_->ReadLog();
    StartStoreOnSmallDisk();
    ExpectLogIsExactly(acked);
    if (HasFatalFailure()) return;
    es::v1::StoreReply refused = CallStore(context_, requests(), FillAppend("full-again", 1));
    EXPECT_TRUE(IsStorageFull(refused)) << refused.DebugString();
  }
  StoreTestClient client_after(context_, requests());

  // 4. Space is freed: appends succeed again, from the next position on.
  ASSERT_EQ(disk_.Resize(GetParam().grown_size), "");
  {
    const uint64_t id = next_id++;
    es::v1::StoreReply reply = client_after.Call(FillAppend(command_of(id), id), seconds(20));
    ASSERT_TRUE(reply.has_append())
        << "an append after space was freed: " << reply.DebugString() << store_->ReadLog();
    EXPECT_EQ(reply.append().first_position(), head_when_full + 1);
    acked[command_of(id)] = reply.append();
  }
  {
    const int kMore = GetParam().more_after;
    for (int i = 0; i < kMore; ++i)
      client_after.Send(FillAppend(command_of(next_id + i), next_id + i));
    for (int i = 0; i < kMore; ++i) {
      std::optional<es::v1::StoreReply> reply = client_after.Receive(seconds(20));
      ASSERT_TRUE(reply.has_value()) << "the store stopped answering";
      ASSERT_TRUE(reply->has_append()) << reply->DebugString();
      acked[command_of(reply->request_id())] = reply->append();
    }
    next_id += kMore;
  }
  ExpectLogIsExactly(acked);
  if (HasFatalFailure()) return;

  // 5. After a restart everything acknowledged is there.
  ExitStatus exit = store_->Terminate(seconds(20));
  EXPECT_TRUE(exit.exited && exit.exit_code == 0) << store_->ReadLog();
  StartStoreOnSmallDisk();
  ExpectLogIsExactly(acked);
  es::v1::StoreReply after_restart =
      CallStore(context_, requests(), FillAppend(command_of(next_id), next_id));
  ASSERT_TRUE(after_restart.has_append()) << after_restart.DebugString();
  EXPECT_EQ(after_restart.append().first_position(), acked.size() + 1);
}

INSTANTIATE_TEST_SUITE_P(
    Engines, DiskFullTest,
    ::testing::Values(
        // 2 MiB, then 2 MiB more once freed: past where the disk was full.
        DiskFullCase{"sqlite", "sqlite", {}, "2m", "16m", 2000, false},
        DiskFullCase{"log", "log", {}, "2m", "16m", 2000, false},
        // SQLite: big enough for the WAL to reach its auto-checkpoint size
        // (1000 pages, 4 MiB) but not for the checkpoint to copy it into the
        // database, so the WAL cannot be reset and grows until the disk is
        // full. Then 10 MiB more: the WAL is checkpointed twice.
        DiskFullCase{"sqlite_full_during_wal_checkpoint", "sqlite", {}, "6m", "40m", 10'000, true},
        // The log engine with 1 MiB segments: it fills while starting new
        // segment files.
        DiskFullCase{"log_full_while_rolling_segments",
                     "log",
                     {"--segment-bytes", "1048576"},
                     "6m",
                     "40m",
                     10'000,
                     true}),
    [](const ::testing::TestParamInfo<DiskFullCase>& info) { return info.param.name; });

}  // namespace
}  // namespace es::testing
