// Listeners that cannot keep up, or come late: a catch-up subscriber that
// stops reading while 100,000 events are published misses none of them once
// it reads again, and the store does not buffer without bound for it; a
// subscriber started after 1,000,000 events reads them all from the store.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bus/catch_up_subscriber.h"
#include "tests/support/fault_system.h"
#include "tests/support/service_process.h"
#include "tests/support/store_process.h"
#include "tests/support/store_requests.h"
#include "tests/support/store_test_client.h"
#include "tests/support/temp_dir.h"

namespace es::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Appends `appends` appends of `events_per_append` events from `clients`
// pipelining DEALER clients (`window` requests in flight each), on streams
// "<prefix>-0".."<prefix>-99". Command ids are "<prefix>-<n>", n from 1.
// Returns the results by command id. Fails the test if an append is refused.
std::map<std::string, es::v1::AppendResult> AppendPipelined(zmq::context_t& context,
                                                            const std::string& endpoint,
                                                            const std::string& prefix, int clients,
                                                            uint64_t appends, int events_per_append,
                                                            int window) {
  std::vector<std::unique_ptr<StoreTestClient>> sockets;
  for (int c = 0; c < clients; ++c) {
    sockets.push_back(std::make_unique<StoreTestClient>(context, endpoint));
  }
  std::map<std::string, es::v1::AppendResult> acked;
  std::vector<int> in_flight(clients, 0);
  uint64_t next = 1;
  auto command_of = [&prefix](uint64_t n) { return prefix + "-" + std::to_string(n); };
  while (acked.size() < appends) {
    for (int c = 0; c < clients; ++c) {
      for (; in_flight[c] < window && next <= appends; ++in_flight[c], ++next) {
        es::v1::StoreRequest request =
            AppendRequestOf(MakeAppend(prefix + "-" + std::to_string(next % 100), command_of(next),
                                       ExpectAny(), events_per_append));
        request.set_request_id(next);
        sockets[c]->Send(request);
      }
    }
    std::vector<zmq::pollitem_t> items;
    for (auto& socket : sockets) items.push_back({socket->socket().handle(), 0, ZMQ_POLLIN, 0});
    if (zmq::poll(items, seconds(20)) == 0) {
      ADD_FAILURE() << "the store stopped answering after " << acked.size() << " appends";
      return acked;
    }
    for (int c = 0; c < clients; ++c) {
      if (!(items[c].revents & ZMQ_POLLIN)) continue;
      while (std::optional<es::v1::StoreReply> reply = sockets[c]->Receive(milliseconds(0))) {
        --in_flight[c];
        if (!reply->has_append()) {
          ADD_FAILURE() << "append refused: " << reply->DebugString();
          return acked;
        }
        acked[command_of(reply->request_id())] = reply->append();
      }
    }
  }
  return acked;
}

class SlowListenerTest : public ::testing::Test {
 protected:
  void StallWhileAppending(uint64_t events, int events_per_append, std::chrono::seconds stall,
                           uint64_t rss_bound);

  TempDir dir_;
  zmq::context_t context_;
};

// A catch-up subscriber with a receive high-water mark of 100 is caught up,
// then not read for `stall` (at least) while `events` events are appended
// by 4 pipelining clients; the store's RSS is sampled meanwhile. Then it is
// read again: every event exactly once, in order. The store's peak RSS
// must stay under `rss_bound`.
void SlowListenerTest::StallWhileAppending(uint64_t events, int events_per_append,
                                           std::chrono::seconds stall, uint64_t rss_bound) {
  ServiceProcess store = StartStore(dir_);
  const std::string requests = store.endpoint("requests");

  // Some history; the subscriber reads it and is caught up.
  ASSERT_EQ(AppendPipelined(context_, requests, "before", 1, 50, 2, 50).size(), 50u);
  es::bus::CatchUpOptions options{
      .store_requests = requests, .store_events = store.endpoint("events"), .receive_hwm = 100};
  es::bus::CatchUpSubscriber subscriber(context_, options);
  for (uint64_t expected = 1; expected <= 100; ++expected) {
    std::optional<es::v1::EventRecord> event = subscriber.Next(seconds(10));
    ASSERT_TRUE(event.has_value()) << "history: no event " << expected;
    ASSERT_EQ(event->global_position(), expected);
  }
  // Subscribed for sure: probe events until one arrives over PUB/SUB (not
  // from a store read), so the store is publishing to this subscriber.
  uint64_t base = 100;
  for (int probe = 1; subscriber.counters().live_events == 0; ++probe) {
    ASSERT_LE(probe, 50) << "no event ever arrived live";
    ASSERT_TRUE(CallStore(context_, requests,
                          AppendRequestOf(
                              MakeAppend("probe", "probe-" + std::to_string(probe), ExpectAny())))
                    .has_append());
    std::optional<es::v1::EventRecord> event = subscriber.Next(seconds(10));
    ASSERT_TRUE(event.has_value());
    ASSERT_EQ(event->global_position(), ++base);
  }
  const uint64_t rss_before = ResidentBytesOf(store.pid());

  // Stalled: nobody reads the subscriber while the events are appended.
  // The store's memory is sampled all along.
  std::atomic<bool> sampling{true};
  std::atomic<uint64_t> peak_rss{rss_before};
  std::thread sampler([&] {
    while (sampling.load()) {
      const uint64_t rss = ResidentBytesOf(store.pid());
      uint64_t peak = peak_rss.load();
      while (rss > peak && !peak_rss.compare_exchange_weak(peak, rss)) {
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
  });
  const Clock::time_point stall_started = Clock::now();
  std::map<std::string, es::v1::AppendResult> acked = AppendPipelined(
      context_, requests, "stalled", 4, events / events_per_append, events_per_append, 100);
  const double append_seconds = SecondsSince(stall_started);
  // The rest of the stall: what the store holds for the stalled subscriber
  // stays held (or is dropped) until it reads again.
  std::this_thread::sleep_until(stall_started + stall);
  sampling = false;
  sampler.join();
  const double stall_seconds = SecondsSince(stall_started);
  ASSERT_EQ(acked.size(), events / events_per_append);

  // Pumped again: every event exactly once, in order.
  const Clock::time_point pump_started = Clock::now();
  uint64_t expected = base + 1;
  const uint64_t last = base + events;
  while (expected <= last) {
    std::optional<es::v1::EventRecord> event = subscriber.Next(seconds(10));
    ASSERT_TRUE(event.has_value()) << "no event " << expected << " within 10 s";
    ASSERT_EQ(event->global_position(), expected);
    const es::v1::AppendResult& result = acked.at(event->command_id());
    ASSERT_GE(event->global_position(), result.first_position());
    ASSERT_LE(event->global_position(), result.last_position());
    ++expected;
  }
  const double pump_seconds = SecondsSince(pump_started);
  EXPECT_FALSE(subscriber.Next(milliseconds(500)).has_value()) << "an event past the head";

  const uint64_t peak = peak_rss.load();
  const auto& counters = subscriber.counters();
  std::cout << "[ slow listener ] " << events << " events appended in " << append_seconds << " s ("
            << static_cast<uint64_t>(static_cast<double>(events) / append_seconds)
            << " events/s); store RSS " << (rss_before >> 20) << " MiB before, peak "
            << (peak >> 20) << " MiB during the stall of " << stall_seconds << " s; caught up in "
            << pump_seconds << " s (" << counters.live_events << " live, " << counters.read_events
            << " read, " << counters.repairs << " repairs)\n";
  RecordProperty("store_rss_before_bytes", std::to_string(rss_before));
  RecordProperty("store_peak_rss_bytes", std::to_string(peak));
  RecordProperty("catch_up_seconds", std::to_string(pump_seconds));
  EXPECT_LT(peak, rss_bound) << "the store buffers without bound for a stalled subscriber";
}

TEST_F(SlowListenerTest, SlowListenerCatchesUpAndStoreMemoryStaysBounded) {
  StallWhileAppending(100'000, 2, seconds(30), uint64_t{200} << 20);
}

// The same with more events than the store may hold for one subscriber: a
// PUB socket whose send high-water mark lets it queue all of them for the
// stalled subscriber (~300 bytes each) would grow by ~300 MiB.
TEST_F(SlowListenerTest, StoreDoesNotBufferAMillionEventsForAStalledListener) {
  StallWhileAppending(1'000'000, 10, seconds(10), uint64_t{200} << 20);
}

TEST_F(SlowListenerTest, LateListenerCatchesUpFromAMillionEvents) {
  constexpr uint64_t kEvents = 1'000'000;
  constexpr int kEventsPerAppend = 100;
  ServiceProcess store = StartStore(dir_);
  const std::string requests = store.endpoint("requests");

  const Clock::time_point append_started = Clock::now();
  std::map<std::string, es::v1::AppendResult> acked = AppendPipelined(
      context_, requests, "million", 4, kEvents / kEventsPerAppend, kEventsPerAppend, 16);
  const double append_seconds = SecondsSince(append_started);
  ASSERT_EQ(acked.size(), kEvents / kEventsPerAppend);
  std::cout << "[ late listener ] appended " << kEvents << " events in " << append_seconds << " s ("
            << static_cast<uint64_t>(kEvents / append_seconds) << " events/s)\n";
  RecordProperty("append_1m_seconds", std::to_string(append_seconds));

  es::bus::CatchUpSubscriber subscriber(
      context_, es::bus::CatchUpOptions{.store_requests = requests,
                                        .store_events = store.endpoint("events"),
                                        .from_position = 1});
  const Clock::time_point read_started = Clock::now();
  for (uint64_t expected = 1; expected <= kEvents; ++expected) {
    std::optional<es::v1::EventRecord> event = subscriber.Next(seconds(10));
    ASSERT_TRUE(event.has_value()) << "no event " << expected << " within 10 s";
    ASSERT_EQ(event->global_position(), expected);
    const es::v1::AppendResult& result = acked.at(event->command_id());
    const uint64_t index = expected - result.first_position();
    ASSERT_LT(index, uint64_t{kEventsPerAppend});
    ASSERT_EQ(event->event_id(), event->command_id() + "/" + std::to_string(index));
  }
  const double read_seconds = SecondsSince(read_started);
  EXPECT_FALSE(subscriber.Next(milliseconds(500)).has_value()) << "an event past the head";
  const double rate = static_cast<double>(kEvents) / read_seconds;
  std::cout << "[ late listener ] caught up with " << kEvents << " events in " << read_seconds
            << " s: " << static_cast<uint64_t>(rate) << " events/s\n";
  RecordProperty("catch_up_events_per_s", std::to_string(static_cast<uint64_t>(rate)));
  RecordProperty("catch_up_seconds", std::to_string(read_seconds));
}

}  // namespace
}  // namespace es::testing
