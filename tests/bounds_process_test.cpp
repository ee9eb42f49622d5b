// The services' limits against clients that misbehave, on the real
// binaries: clients that never read their replies leave the store's memory
// under the bound its stats state while another client keeps being served;
// a client with too many commands in flight is answered at once, and what
// was refused writes nothing.
#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "tests/support/bank_system.h"
#include "tests/support/command_test_client.h"
#include "tests/support/fault_system.h"
#include "tests/support/store_process.h"
#include "tests/support/store_requests.h"
#include "tests/support/store_test_client.h"
#include "tests/support/temp_dir.h"

namespace es::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr uint64_t kMiB = uint64_t{1} << 20;
// AddressSanitizer's allocator pads every allocation and keeps freed
// memory in quarantine: the same queues take ~2.5x the RSS (still bounded;
// the store without its limits grew by gigabytes).
#if defined(__SANITIZE_ADDRESS__)
constexpr uint64_t kAllocatorPercent = 250;
#else
constexpr uint64_t kAllocatorPercent = 100;
#endif

es::v1::StoreStats StoreStatsOf(zmq::context_t& context, const std::string& endpoint) {
  es::v1::StoreRequest request;
  request.mutable_stats();
  es::v1::StoreReply reply = CallStore(context, endpoint, request);
  EXPECT_TRUE(reply.has_stats()) << reply.DebugString();
  return reply.stats();
}

// A DEALER that asks and never reads: its own queue holds one message and
// its kernel buffer little, so what it does not read backs up into the
// server.
zmq::socket_t NonReadingClient(zmq::context_t& context, const std::string& endpoint) {
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::rcvhwm, 1);
  socket.set(zmq::sockopt::rcvbuf, 4096);
  socket.set(zmq::sockopt::sndhwm, 100'000);
  socket.set(zmq::sockopt::linger, 0);
  socket.connect(endpoint);
  return socket;
}

void SendRequest(zmq::socket_t& socket, const google::protobuf::Message& request) {
  socket.send(zmq::message_t(), zmq::send_flags::sndmore);
  socket.send(zmq::buffer(request.SerializeAsString()));
}

TEST(BoundsTest, StoreMemoryStaysUnderItsStatedBoundWhileClientsDoNotReadAndOthersAreServed) {
  TempDir dir;
  ServiceProcess store = StartStore(dir);
  const std::string endpoint = store.endpoint("requests");
  zmq::context_t context;
  StoreTestClient writer(context, endpoint);
  // 2 MB of events: a read_all reply is one 256 KiB page of them (it was
  // all 2 MB, and a non-reading client had a million of them queued).
  for (int i = 0; i < 200; ++i) {
    es::v1::AppendRequest append =
        MakeAppend("bulk-" + std::to_string(i), "bulk-" + std::to_string(i), ExpectAny(), 10);
    for (auto& event : *append.mutable_events()) event.set_data(std::string(1000, 'd'));
    ASSERT_TRUE(writer.Call(AppendRequestOf(append)).has_append());
  }
  const uint64_t rss_before = ResidentBytesOf(store.pid());

  constexpr int kClients = 4;
  constexpr int kRequestsEach = 1500;  // 375 MB of replies each, if all were served
  std::vector<zmq::socket_t> flooders;
  for (int c = 0; c < kClients; ++c) flooders.push_back(NonReadingClient(context, endpoint));
  for (int i = 0; i < kRequestsEach; ++i) {
    for (zmq::socket_t& flooder : flooders) {
      es::v1::StoreRequest read = ReadAllRequest(1, 10'000);
      read.set_request_id(static_cast<uint64_t>(i));
      SendRequest(flooder, read);
    }
  }

  // While they flood: a reading client is served, and the store's RSS is
  // watched until every flooder is stalled (and a second longer).
  StoreTestClient reader(context, endpoint);
  uint64_t peak_rss = rss_before;
  es::v1::StoreStats stats;
  std::optional<Clock::time_point> all_stalled_at;
  const auto deadline = Clock::now() + seconds(60);
  while (Clock::now() < deadline) {
    const auto asked = Clock::now();
    es::v1::StoreReply pong = reader.Call(PingRequest(), seconds(5));
    ASSERT_TRUE(pong.has_pong()) << pong.DebugString();
    es::v1::StoreReply page = reader.Call(ReadStreamRequest("bulk-7", 1), seconds(5));
    ASSERT_TRUE(page.has_read_stream()) << page.DebugString();
    EXPECT_EQ(page.read_stream().events_size(), 10);
    EXPECT_LT(Clock::now() - asked, seconds(5)) << "another client kept being served";
    peak_rss = std::max(peak_rss, ResidentBytesOf(store.pid()));
    stats = StoreStatsOf(context, endpoint);
    if (!all_stalled_at && stats.bounds().stalled_peers() == kClients) all_stalled_at = Clock::now();
    if (all_stalled_at && Clock::now() - *all_stalled_at > seconds(1)) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_TRUE(all_stalled_at.has_value())
      << "flooders stalled: " << stats.bounds().stalled_peers() << " of " << kClients;
  EXPECT_GT(stats.bounds().requests_dropped_total(), 0u) << "a stalled client's requests cost nothing";

  // The bound the README states: per client, send_hwm replies of a 256 KiB
  // page in libzmq's queue plus held_bytes_per_peer in the store.
  const uint64_t per_client =
      stats.bounds().send_hwm() * 256 * 1024 + stats.bounds().held_bytes_per_peer();
  const uint64_t bound = rss_before + kClients * per_client * kAllocatorPercent / 100 + 64 * kMiB;
  EXPECT_LT(peak_rss, bound) << "peak RSS " << peak_rss / kMiB << " MiB, before "
                             << rss_before / kMiB << " MiB, bound " << bound / kMiB << " MiB";
  EXPECT_LE(stats.bounds().held_bytes(), stats.bounds().held_bytes_limit());
  std::printf("store RSS: %llu MiB before, peak %llu MiB with %d clients not reading (bound %llu MiB)\n",
              static_cast<unsigned long long>(rss_before / kMiB),
              static_cast<unsigned long long>(peak_rss / kMiB), kClients,
              static_cast<unsigned long long>(bound / kMiB));

  // They leave: what was held for them is freed.
  flooders.clear();
  const auto freed_by = Clock::now() + seconds(20);
  do {
    stats = StoreStatsOf(context, endpoint);
    if (stats.bounds().held_bytes() == 0 && stats.bounds().stalled_peers() == 0) break;
    std::this_thread::sleep_for(milliseconds(50));
  } while (Clock::now() < freed_by);
  EXPECT_EQ(stats.bounds().held_bytes(), 0u);
  EXPECT_EQ(stats.bounds().stalled_peers(), 0u);
}

// Sends SIGCONT to a stopped process when it goes out of scope.
struct Resume {
  pid_t pid;
  ~Resume() { ::kill(pid, SIGCONT); }
};

TEST(BoundsTest, CommandsOverTheInFlightLimitAreRefusedAtOnceAndWriteNothing) {
  TempDir dir;
  BankSystem bank(dir, {.start_saga = false, .command_args = {"--store-timeout-ms", "60000", "--snapshot-every", "0"}});
  zmq::context_t context;
  CommandTestClient client(context, bank.commands());
  es::v1::CommandReply opened =
      client.Call(CommandRequestWith(OpenAccountWith("open-a", "A", "Ann", 0)));
  ASSERT_TRUE(opened.has_outcome() && opened.outcome().accepted()) << opened.DebugString();
  const uint64_t head = bank.StoreHead(context);

  // With the store stopped, nothing is answered by it: every command the
  // service takes stays in flight.
  ASSERT_EQ(::kill(bank.store().pid(), SIGSTOP), 0);
  Resume resume{bank.store().pid()};
  constexpr int kLimit = 4096;  // per client (command_service's default)
  constexpr int kSent = 5000;
  for (int i = 0; i < kSent; ++i) {
    es::v1::CommandRequest request = CommandRequestWith(CreditWith("c-" + std::to_string(i), "A", 1));
    request.set_request_id(static_cast<uint64_t>(i + 1));
    client.Send(request);
  }
  int over_limit = 0;
  std::vector<bool> answered(kSent + 1, false);
  const auto refused_by = Clock::now() + seconds(20);
  while (over_limit < kSent - kLimit && Clock::now() < refused_by) {
    std::optional<es::v1::CommandReply> reply = client.Receive(milliseconds(500));
    if (!reply) continue;
    ASSERT_TRUE(reply->has_error()) << "the store is stopped: " << reply->DebugString();
    EXPECT_EQ(reply->error().code(), es::v1::ERROR_CODE_UNAVAILABLE);
    EXPECT_NE(reply->error().message().find("in flight"), std::string::npos)
        << reply->error().message();
    answered.at(reply->request_id()) = true;
    ++over_limit;
  }
  EXPECT_EQ(over_limit, kSent - kLimit) << "answered at once, while the store is stopped";

  CommandTestClient observer(context, bank.commands());
  es::v1::CommandRequest stats_request;
  stats_request.mutable_stats();
  es::v1::CommandReply stats = observer.Call(stats_request);
  ASSERT_TRUE(stats.has_stats()) << stats.DebugString();
  EXPECT_EQ(stats.stats().requests_in_flight(), static_cast<uint64_t>(kLimit));
  EXPECT_EQ(stats.stats().requests_over_limit(), static_cast<uint64_t>(kSent - kLimit));

  ASSERT_EQ(::kill(bank.store().pid(), SIGCONT), 0);
  int accepted = 0;
  const auto done_by = Clock::now() + seconds(60);
  while (accepted < kLimit && Clock::now() < done_by) {
    std::optional<es::v1::CommandReply> reply = client.Receive(milliseconds(500));
    if (!reply) continue;
    ASSERT_TRUE(reply->has_outcome()) << reply->DebugString();
    EXPECT_TRUE(reply->outcome().accepted()) << reply->DebugString();
    EXPECT_FALSE(answered.at(reply->request_id())) << "answered twice";
    answered.at(reply->request_id()) = true;
    ++accepted;
  }
  EXPECT_EQ(accepted, kLimit);
  EXPECT_EQ(bank.StoreHead(context), head + kLimit) << "the refused commands wrote nothing";
}

}  // namespace
}  // namespace es::testing
