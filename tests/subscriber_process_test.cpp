// Guarantee 5, a bus that loses nothing, against the real store_service:
// es::bus::CatchUpSubscriber (the Clone pattern) delivers every matching
// event exactly once, in global order, whether it is early, late, stalled
// past its high-water mark, filtered, riding through a store restart,
// missing a silent tail, or resumed from a checkpoint.
//
// Loss is made on purpose where a test needs it: the store's PUB socket has a
// send high-water mark of 1,000,000 and a SUB socket's receive high-water
// mark applies back-pressure rather than dropping, so a stalled subscriber
// reading straight from the store loses nothing from a burst this size. Those
// tests put a LossyRelay (a PUB with a tiny high-water mark, or one that drops
// chosen messages) between the store's PUB and the subscriber; the
// subscriber's store reads still go to the real store.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bus/catch_up_subscriber.h"
#include "tests/support/lossy_relay.h"
#include "tests/support/proto_equals.h"
#include "tests/support/service_process.h"
#include "tests/support/store_process.h"
#include "tests/support/store_requests.h"
#include "tests/support/store_test_client.h"
#include "tests/support/temp_dir.h"

namespace es::testing {
namespace {

using es::bus::CatchUpOptions;
using es::bus::CatchUpSubscriber;
using es::v1::EventRecord;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// Writing

// A burst of `events` events appended by `clients` pipelining DEALER clients
// (`window` requests in flight each), `events_per_append` per append (the
// last one shorter if need be). Append n (from 1) goes to stream_of(n) with
// command id "<prefix>-<n>".
struct Burst {
  std::string prefix{};
  uint64_t events = 0;
  int events_per_append = 4;
  int clients = 4;
  int window = 32;
  std::function<std::string(uint64_t)> stream_of{};
};

// Appends `burst` and returns how many events were acknowledged (the test
// has failed if that is not burst.events).
uint64_t AppendBurst(zmq::context_t& context, const std::string& endpoint, const Burst& burst) {
  std::vector<std::unique_ptr<StoreTestClient>> clients;
  for (int c = 0; c < burst.clients; ++c) {
    clients.push_back(std::make_unique<StoreTestClient>(context, endpoint));
  }
  std::vector<int> in_flight(burst.clients, 0);
  uint64_t next_append = 1;
  uint64_t events_sent = 0;
  uint64_t events_acked = 0;
  while (events_acked < burst.events) {
    for (int c = 0; c < burst.clients; ++c) {
      while (in_flight[c] < burst.window && events_sent < burst.events) {
        const int count = static_cast<int>(
            std::min<uint64_t>(burst.events_per_append, burst.events - events_sent));
        es::v1::StoreRequest request = AppendRequestOf(
            MakeAppend(burst.stream_of(next_append),
                       burst.prefix + "-" + std::to_string(next_append), ExpectAny(), count));
        request.set_request_id(next_append);
        clients[c]->Send(request);
        ++next_append;
        ++in_flight[c];
        events_sent += static_cast<uint64_t>(count);
      }
    }
    std::vector<zmq::pollitem_t> items;
    for (auto& client : clients) items.push_back({client->socket().handle(), 0, ZMQ_POLLIN, 0});
    if (zmq::poll(items, seconds(10)) == 0) {
      ADD_FAILURE() << "the store stopped answering after " << events_acked << " events";
      return events_acked;
    }
    for (int c = 0; c < burst.clients; ++c) {
      if (!(items[c].revents & ZMQ_POLLIN)) continue;
      while (std::optional<es::v1::StoreReply> reply = clients[c]->Receive(milliseconds(0))) {
        --in_flight[c];
        if (!reply->has_append()) {
          ADD_FAILURE() << "append refused: " << reply->DebugString();
          return events_acked;
        }
        events_acked += reply->append().last_position() - reply->append().first_position() + 1;
      }
    }
  }
  return events_acked;
}

std::string Stream(const std::string& prefix, uint64_t n, uint64_t streams) {
  return prefix + std::to_string(n % streams);
}

// `events` single-event appends, alternating between ten "a-" and ten "b-"
// streams, by two clients with eight in flight each: a filtered subscriber's
// positions are never contiguous in it.
Burst AlternatingBurst(uint64_t events) {
  return Burst{.prefix = "mixed",
               .events = events,
               .events_per_append = 1,
               .clients = 2,
               .window = 8,
               .stream_of = [](uint64_t n) { return Stream(n % 2 == 0 ? "a-" : "b-", n / 2, 10); }};
}

// Appends one event to `stream`; returns its global position (0 on failure).
uint64_t AppendOne(zmq::context_t& context, const std::string& endpoint, const std::string& stream,
                   const std::string& command_id) {
  es::v1::StoreReply reply =
      CallStore(context, endpoint, AppendRequestOf(MakeAppend(stream, command_id, ExpectAny())));
  EXPECT_TRUE(reply.has_append()) << reply.DebugString();
  return reply.has_append() ? reply.append().last_position() : 0;
}

// ---------------------------------------------------------------------------
// Reading

// Every event in the store, read over the wire in pages.
std::vector<EventRecord> ReadWholeLog(zmq::context_t& context, const std::string& endpoint) {
  StoreTestClient client(context, endpoint);
  std::vector<EventRecord> events;
  uint64_t from = 1;
  while (true) {
    es::v1::StoreReply reply = client.Call(ReadAllRequest(from, 1000));
    EXPECT_TRUE(reply.has_read_all()) << reply.DebugString();
    if (!reply.has_read_all()) return events;
    const es::v1::ReadAllResult& page = reply.read_all();
    events.insert(events.end(), page.events().begin(), page.events().end());
    if (page.scanned_through() >= page.head_position()) return events;
    from = page.scanned_through() + 1;
  }
}

std::vector<EventRecord> WithPrefix(const std::vector<EventRecord>& events,
                                    const std::string& prefix, uint64_t after_position = 0) {
  std::vector<EventRecord> matching;
  for (const EventRecord& event : events) {
    if (event.global_position() > after_position && event.stream_id().starts_with(prefix)) {
      matching.push_back(event);
    }
  }
  return matching;
}

std::vector<EventRecord> After(const std::vector<EventRecord>& events, uint64_t position) {
  return WithPrefix(events, "", position);
}

// Calls Next() until `count` events came or `timeout` passed.
std::vector<EventRecord> Collect(CatchUpSubscriber& subscriber, size_t count,
                                 milliseconds timeout = seconds(20)) {
  std::vector<EventRecord> events;
  const Clock::time_point deadline = Clock::now() + timeout;
  while (events.size() < count && Clock::now() < deadline) {
    if (std::optional<EventRecord> event = subscriber.Next(milliseconds(100))) {
      events.push_back(std::move(*event));
    }
  }
  return events;
}

// "positions 3, 5..9 missing; 12 twice" style summary of what `got` lacks
// or repeats compared to `expected` (by global position).
std::string DescribeDifference(const std::vector<EventRecord>& expected,
                               const std::vector<EventRecord>& got) {
  std::map<uint64_t, int> seen;
  for (const EventRecord& event : got) ++seen[event.global_position()];
  std::vector<uint64_t> missing, repeated, unexpected;
  std::map<uint64_t, bool> wanted;
  for (const EventRecord& event : expected) {
    wanted[event.global_position()] = true;
    if (!seen.contains(event.global_position())) missing.push_back(event.global_position());
  }
  for (const auto& [position, times] : seen) {
    if (times > 1) repeated.push_back(position);
    if (!wanted.contains(position)) unexpected.push_back(position);
  }
  auto list = [](const std::vector<uint64_t>& positions) {
    std::ostringstream out;
    out << positions.size() << " [";
    for (size_t i = 0; i < positions.size() && i < 10; ++i) out << (i ? " " : "") << positions[i];
    if (positions.size() > 10) out << " ...";
    out << "]";
    return out.str();
  };
  return "expected " + std::to_string(expected.size()) + " events, got " +
         std::to_string(got.size()) + "; missing " + list(missing) + ", repeated " +
         list(repeated) + ", not expected " + list(unexpected);
}

// `got` is exactly `expected`: the same events (every field), in the same
// order, each once.
::testing::AssertionResult SameEvents(const std::vector<EventRecord>& expected,
                                      const std::vector<EventRecord>& got) {
  if (got.size() != expected.size()) {
    return ::testing::AssertionFailure() << DescribeDifference(expected, got);
  }
  for (size_t i = 0; i < got.size(); ++i) {
    ::testing::AssertionResult same = ProtoEquals(expected[i], got[i]);
    if (!same) {
      return ::testing::AssertionFailure()
             << "event #" << i << " differs (" << DescribeDifference(expected, got)
             << "): " << same.message();
    }
  }
  return ::testing::AssertionSuccess();
}

// The log's shape: positions 1..n, each stream's versions 1..k, in order.
::testing::AssertionResult GapFreeLog(const std::vector<EventRecord>& log) {
  std::map<std::string, uint64_t> versions;
  for (size_t i = 0; i < log.size(); ++i) {
    if (log[i].global_position() != i + 1) {
      return ::testing::AssertionFailure()
             << "position " << log[i].global_position() << " at #" << i;
    }
    if (log[i].stream_version() != ++versions[log[i].stream_id()]) {
      return ::testing::AssertionFailure() << "stream " << log[i].stream_id() << " version "
                                           << log[i].stream_version() << " at " << i + 1;
    }
  }
  return ::testing::AssertionSuccess();
}

std::string Describe(const es::bus::CatchUpCounters& counters) {
  return std::to_string(counters.live_events) + " live, " + std::to_string(counters.read_events) +
         " read, " + std::to_string(counters.repairs) + " repairs, " +
         std::to_string(counters.store_unavailable) + " store unavailable";
}

// ---------------------------------------------------------------------------
// Subscribers

// Appends one probe event at a time to `stream` and reads it, until one
// arrives over PUB/SUB rather than from a store read: then the subscriber's
// subscription has reached the publisher, and it follows live. Returns the
// probe events it delivered.
std::vector<EventRecord> FollowLive(zmq::context_t& context, const std::string& requests,
                                    CatchUpSubscriber& subscriber, const std::string& stream) {
  std::vector<EventRecord> delivered;
  for (int probe = 1; subscriber.counters().live_events == 0; ++probe) {
    if (probe > 100) {
      ADD_FAILURE() << "no event ever arrived live";
      break;
    }
    const uint64_t position =
        AppendOne(context, requests, stream, stream + "-probe-" + std::to_string(probe));
    std::optional<EventRecord> event = subscriber.Next(seconds(10));
    if (!event || event->global_position() != position) {
      ADD_FAILURE() << "the probe at " << position << " did not come back";
      break;
    }
    delivered.push_back(std::move(*event));
  }
  return delivered;
}

// A CatchUpSubscriber pumped on its own thread (which owns it and its
// sockets), keeping every event Next() returns.
class PumpedSubscriber {
 public:
  PumpedSubscriber(zmq::context_t& context, CatchUpOptions options) {
    thread_ = std::thread([this, &context, options = std::move(options)] {
      CatchUpSubscriber subscriber(context, options);
      while (!stop_.load()) {
        std::optional<EventRecord> event = subscriber.Next(milliseconds(50));
        std::lock_guard lock(mutex_);
        if (event) events_.push_back(std::move(*event));
        counters_ = subscriber.counters();
        position_ = subscriber.position();
        changed_.notify_all();
      }
    });
  }
  ~PumpedSubscriber() { Stop(); }

  // Waits until at least `count` events were delivered.
  bool WaitForCount(size_t count, milliseconds timeout = seconds(20)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return events_.size() >= count; });
  }

  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<EventRecord> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }
  size_t size() {
    std::lock_guard lock(mutex_);
    return events_.size();
  }
  es::bus::CatchUpCounters counters() {
    std::lock_guard lock(mutex_);
    return counters_;
  }
  // Waits until the subscriber's position() reached `position`.
  bool WaitForPosition(uint64_t position, milliseconds timeout = seconds(20)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return position_ >= position; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<EventRecord> events_;
  es::bus::CatchUpCounters counters_;
  uint64_t position_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// FollowLive for subscribers on threads: probes until each has had an event
// live. Returns the number of probe events appended.
uint64_t FollowLive(zmq::context_t& context, const std::string& requests,
                    const std::vector<PumpedSubscriber*>& subscribers, const std::string& stream) {
  auto all_live = [&] {
    return std::all_of(subscribers.begin(), subscribers.end(),
                       [](PumpedSubscriber* s) { return s->counters().live_events > 0; });
  };
  uint64_t probes = 0;
  while (!all_live()) {
    if (probes >= 100) {
      ADD_FAILURE() << "no event ever arrived live";
      break;
    }
    ++probes;
    AppendOne(context, requests, stream, stream + "-probe-" + std::to_string(probes));
    for (PumpedSubscriber* subscriber : subscribers) {
      if (!subscriber->WaitForCount(probes, seconds(10))) {
        ADD_FAILURE() << "probe " << probes << " did not come back";
        return probes;
      }
    }
  }
  return probes;
}

class SubscriberProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_unique<ServiceProcess>(StartStore(dir_));
    requests_ = store_->endpoint("requests");
    events_ = store_->endpoint("events");
  }
  void TearDown() override {
    // Stopped by pid even when the test failed (the destructor would too).
    if (store_ && store_->running()) store_->Kill9();
  }

  CatchUpOptions Options(const std::string& live_endpoint, uint64_t from = 1) const {
    CatchUpOptions options{.store_requests = requests_, .store_events = live_endpoint};
    options.from_position = from;
    return options;
  }

  // Defined with the deliver_only tests below.
  es::bus::CatchUpCounters RunDeliverOnlyThroughLosses(bool batched, uint64_t burst,
                                                       uint64_t* relay_dropped);

  TempDir dir_;
  zmq::context_t context_;
  std::unique_ptr<ServiceProcess> store_;
  std::string requests_;
  std::string events_;
};

// ---------------------------------------------------------------------------
// 1. Any number may attach, early or late.

TEST_F(SubscriberProcessTest, ThreeEarlySubscribersAndOneLateSeeTheIdenticalContiguousSequence) {
  constexpr uint64_t kTotal = 10'000;
  PumpedSubscriber first(context_, Options(events_));
  PumpedSubscriber second(context_, Options(events_));
  PumpedSubscriber third(context_, Options(events_));
  const std::vector<PumpedSubscriber*> early = {&first, &second, &third};
  // Attached for sure: each has had an event over PUB/SUB. The probes are
  // the first of the 10,000 events.
  const uint64_t probes = FollowLive(context_, requests_, early, "probe");
  ASSERT_FALSE(HasFailure());

  const Clock::time_point burst_started = Clock::now();
  ASSERT_EQ(AppendBurst(context_, requests_,
                        Burst{.prefix = "burst",
                              .events = kTotal - probes,
                              .events_per_append = 3,
                              .clients = 4,
                              .window = 32,
                              .stream_of = [](uint64_t n) { return Stream("acct-", n, 97); }}),
            kTotal - probes);
  const double burst_seconds = std::chrono::duration<double>(Clock::now() - burst_started).count();
  for (PumpedSubscriber* subscriber : early) {
    EXPECT_TRUE(subscriber->WaitForCount(kTotal)) << "stuck at " << subscriber->size();
  }

  CatchUpSubscriber late(context_, Options(events_, 1));
  std::vector<EventRecord> late_events = Collect(late, kTotal);
  EXPECT_FALSE(late.Next(milliseconds(300)).has_value()) << "an event past the head";

  const std::vector<EventRecord> log = ReadWholeLog(context_, requests_);
  ASSERT_EQ(log.size(), kTotal);
  ASSERT_TRUE(GapFreeLog(log));
  for (PumpedSubscriber* subscriber : early) subscriber->Stop();  // nothing more can come
  for (size_t i = 0; i < early.size(); ++i) {
    SCOPED_TRACE("early subscriber " + std::to_string(i + 1));
    EXPECT_TRUE(SameEvents(log, early[i]->events()));
    EXPECT_GT(early[i]->counters().live_events, 0u);
    std::cout << "[ early " << i + 1 << " ] " << Describe(early[i]->counters()) << "\n";
  }
  EXPECT_TRUE(SameEvents(log, late_events)) << "late subscriber";
  std::cout << "[ late    ] " << Describe(late.counters()) << "; burst of " << kTotal - probes
            << " events appended in " << burst_seconds << " s\n";
}

// ---------------------------------------------------------------------------
// 2. A stalled subscriber past its high-water mark repairs from the store.

TEST_F(SubscriberProcessTest, StalledSubscriberWithTinyHighWaterMarkRepairsEveryEvent) {
  constexpr uint64_t kBurst = 20'000;
  LossyRelay relay(context_, events_, {.send_hwm = 10, .send_buffer_bytes = 4096});
  ASSERT_TRUE(relay.WaitForUpstream());
  CatchUpOptions options = Options(relay.endpoint());
  options.receive_hwm = 10;
  CatchUpSubscriber subscriber(context_, options);
  const std::vector<EventRecord> probes = FollowLive(context_, requests_, subscriber, "probe");
  ASSERT_FALSE(HasFailure());
  const uint64_t caught_up_to = probes.back().global_position();
  const es::bus::CatchUpCounters before = subscriber.counters();

  // Stalled: nobody calls Next() during the burst.
  ASSERT_EQ(AppendBurst(context_, requests_,
                        Burst{.prefix = "stalled",
                              .events = kBurst,
                              .events_per_append = 4,
                              .clients = 4,
                              .window = 32,
                              .stream_of = [](uint64_t n) { return Stream("s-", n, 50); }}),
            kBurst);

  std::vector<EventRecord> got = Collect(subscriber, kBurst);
  EXPECT_FALSE(subscriber.Next(milliseconds(300)).has_value()) << "an event past the head";

  const std::vector<EventRecord> log = ReadWholeLog(context_, requests_);
  ASSERT_EQ(log.size(), caught_up_to + kBurst);
  EXPECT_TRUE(SameEvents(After(log, caught_up_to), got));
  const es::bus::CatchUpCounters& after = subscriber.counters();
  std::cout << "[ stalled ] " << Describe(after) << "\n";
  // The burst was lost on the way and repaired from the store.
  EXPECT_GT(after.repairs, before.repairs);
  EXPECT_GT(after.read_events, before.read_events);
  EXPECT_EQ(subscriber.position(), log.size());
}

// ---------------------------------------------------------------------------
// 3. A filtered subscriber detects what it lost although its positions are
// never contiguous.

TEST_F(SubscriberProcessTest, FilteredSubscriberDetectsLossItCannotSeeByContiguity) {
  constexpr uint64_t kBurst = 20'000;
  LossyRelay relay(context_, events_, {.send_hwm = 10, .send_buffer_bytes = 4096});
  ASSERT_TRUE(relay.WaitForUpstream());
  CatchUpOptions options = Options(relay.endpoint());
  options.receive_hwm = 10;
  options.stream_prefix = "b-";
  CatchUpSubscriber subscriber(context_, options);
  // Attached (a filtered subscriber delivers nothing straight from PUB, so
  // the relay is asked) and caught up.
  ASSERT_TRUE(relay.WaitForSubscription("b-"));
  const uint64_t caught_up_to = AppendOne(context_, requests_, "b-probe", "b-probe");
  std::optional<EventRecord> probe = subscriber.Next(seconds(10));
  ASSERT_TRUE(probe.has_value());
  ASSERT_EQ(probe->global_position(), caught_up_to);

  // Stalled during a burst that interleaves "a-" and "b-" streams.
  ASSERT_EQ(AppendBurst(
                context_, requests_,
                Burst{.prefix = "mixed",
                      .events = kBurst,
                      .events_per_append = 2,
                      .clients = 4,
                      .window = 32,
                      .stream_of =
                          [](uint64_t n) { return Stream(n % 2 == 0 ? "a-" : "b-", n / 2, 20); }}),
            kBurst);

  const std::vector<EventRecord> log = ReadWholeLog(context_, requests_);
  const std::vector<EventRecord> expected = WithPrefix(log, "b-", caught_up_to);
  ASSERT_EQ(expected.size(), kBurst / 2);
  std::vector<EventRecord> got = Collect(subscriber, expected.size());
  EXPECT_FALSE(subscriber.Next(milliseconds(300)).has_value()) << "an event past the last b-";
  EXPECT_TRUE(SameEvents(expected, got));
  std::cout << "[ filtered stalled ] " << Describe(subscriber.counters()) << "\n";
}

// The same, deterministic: the relay loses every third "b-" event while the
// subscriber follows live. It sees b- events at positions 2, 4, 8, ... and
// must still find the ones at 6, 12, ... it never saw.
TEST_F(SubscriberProcessTest, FilteredSubscriberFindsEventsLostBetweenOnesItSaw) {
  constexpr uint64_t kBurst = 3000;
  std::atomic<uint64_t> lose_after{std::numeric_limits<uint64_t>::max()};
  std::atomic<uint64_t> b_seen{0};
  LossyRelay relay(context_, events_,
                   {.send_hwm = 0, .drop = [&](const es::v1::LiveMessage& message) {
                      if (!message.has_event()) return false;
                      const EventRecord& event = message.event();
                      if (event.global_position() <= lose_after.load()) return false;
                      if (!event.stream_id().starts_with("b-") || event.stream_id() == "b-last") {
                        return false;
                      }
                      return ++b_seen % 3 == 0;
                    }});
  ASSERT_TRUE(relay.WaitForUpstream());
  CatchUpOptions options = Options(relay.endpoint());
  options.stream_prefix = "b-";
  options.silence_timeout = seconds(60);  // only what arrives may reveal the loss
  PumpedSubscriber subscriber(context_, options);
  ASSERT_TRUE(relay.WaitForSubscription("b-"));
  lose_after = AppendOne(context_, requests_, "b-probe", "b-probe");
  ASSERT_TRUE(subscriber.WaitForCount(1));

  ASSERT_EQ(AppendBurst(context_, requests_, AlternatingBurst(kBurst)), kBurst);
  // A last b- event, so the subscriber's end is known; it is never lost.
  const uint64_t last = AppendOne(context_, requests_, "b-last", "b-last");

  const std::vector<EventRecord> log = ReadWholeLog(context_, requests_);
  ASSERT_EQ(log.size(), last);
  const std::vector<EventRecord> expected = WithPrefix(log, "b-");
  EXPECT_TRUE(subscriber.WaitForCount(expected.size())) << "stuck at " << subscriber.size();
  subscriber.Stop();
  EXPECT_TRUE(SameEvents(expected, subscriber.events()));
  ASSERT_TRUE(relay.WaitForEvent(last));
  EXPECT_EQ(relay.dropped_by_predicate(), kBurst / 2 / 3);
}

// deliver_only: the subscriber follows every position (a gap is a loss, with
// no confirming reads) but returns only "b-" events; "a-" events just move
// its position on. The relay loses every third live message (an event, or
// for a batched subscriber a batch of up to 16): a lost "a-" event must be
// noticed as a gap all the same, and the position must reach a skipped last
// event. Returns the subscriber's counters; `relay_dropped` what the relay
// lost.
es::bus::CatchUpCounters SubscriberProcessTest::RunDeliverOnlyThroughLosses(
    bool batched, uint64_t burst, uint64_t* relay_dropped) {
  std::atomic<uint64_t> lose_after{std::numeric_limits<uint64_t>::max()};
  std::atomic<uint64_t> seen{0};
  LossyRelay relay(context_, events_,
                   {.send_hwm = 0, .drop = [&](const es::v1::LiveMessage& message) {
                      const EventRecord* first = message.has_event()   ? &message.event()
                                                 : message.has_batch() ? &message.batch().events(0)
                                                                       : nullptr;
                      if (first == nullptr || message.has_batch() != batched) return false;
                      if (first->global_position() <= lose_after.load()) return false;
                      return ++seen % 3 == 0;
                    }});
  EXPECT_TRUE(relay.WaitForUpstream());
  CatchUpOptions options = Options(relay.endpoint());
  options.deliver_only = {"b-"};
  options.batched = batched;
  options.silence_timeout = seconds(60);  // only what arrives may reveal the loss
  PumpedSubscriber subscriber(context_, options);
  EXPECT_TRUE(relay.WaitForSubscription(batched ? std::string(es::bus::kBatchTopic) : ""));
  lose_after = AppendOne(context_, requests_, "b-probe", "b-probe");
  EXPECT_TRUE(subscriber.WaitForCount(1));

  EXPECT_EQ(AppendBurst(context_, requests_, AlternatingBurst(burst)), burst);
  // Past the last b- event only an a- event follows: the position must
  // still reach it.
  const uint64_t last = AppendOne(context_, requests_, "a-last", "a-last");

  const std::vector<EventRecord> log = ReadWholeLog(context_, requests_);
  EXPECT_EQ(log.size(), last);
  const std::vector<EventRecord> expected = WithPrefix(log, "b-");
  EXPECT_TRUE(subscriber.WaitForCount(expected.size())) << "stuck at " << subscriber.size();
  EXPECT_TRUE(subscriber.WaitForPosition(last));
  subscriber.Stop();
  EXPECT_TRUE(SameEvents(expected, subscriber.events()));
  EXPECT_TRUE(relay.WaitForEvent(last));
  *relay_dropped = relay.dropped_by_predicate();
  return subscriber.counters();
}

TEST_F(SubscriberProcessTest, DeliverOnlySubscriberSkipsOtherStreamsYetRepairsEveryGap) {
  constexpr uint64_t kBurst = 3000;
  uint64_t dropped = 0;
  const es::bus::CatchUpCounters counters = RunDeliverOnlyThroughLosses(false, kBurst, &dropped);
  std::cout << "[ deliver-only ] " << Describe(counters) << "\n";
  EXPECT_GT(counters.repairs, 0u);
  EXPECT_GT(counters.live_events, 1u) << "b- events should arrive live, unconfirmed";
  EXPECT_GT(dropped, kBurst / 4);
}

// The same through batches (16 events to a message): a lost batch shows as a
// gap and is repaired.
TEST_F(SubscriberProcessTest, BatchedDeliverOnlySubscriberRepairsEveryLostBatch) {
  constexpr uint64_t kBurst = 3000;
  uint64_t dropped = 0;
  const es::bus::CatchUpCounters counters = RunDeliverOnlyThroughLosses(true, kBurst, &dropped);
  std::cout << "[ batched deliver-only ] " << Describe(counters) << "\n";
  EXPECT_GT(counters.repairs, 0u);
  // Not subscribed to single events: whatever came live came in batches.
  EXPECT_GT(counters.live_events, kBurst / 20) << "b- events should arrive live, in batches";
  EXPECT_GT(dropped, 10u);
}

// ---------------------------------------------------------------------------
// 4. A restarted store: the subscriber reconnects and repairs.

TEST_F(SubscriberProcessTest, SubscriberRidesThroughAStoreRestart) {
  constexpr uint64_t kBefore = 3000;
  constexpr uint64_t kAfter = 3000;
  CatchUpOptions options = Options(events_);
  options.silence_timeout = milliseconds(300);
  PumpedSubscriber subscriber(context_, options);
  const uint64_t probes = FollowLive(context_, requests_, {&subscriber}, "probe");
  ASSERT_FALSE(HasFailure());

  ASSERT_EQ(AppendBurst(context_, requests_,
                        Burst{.prefix = "before",
                              .events = kBefore,
                              .stream_of = [](uint64_t n) { return Stream("s-", n, 30); }}),
            kBefore);
  // Killed right after the last acknowledgement: the subscriber is still
  // receiving the burst, and what the store had not yet sent it is gone.
  store_->Kill9();
  const size_t delivered_at_kill = subscriber.size();
  *store_ = ServiceProcess::Start(
      BinaryPath("store_service"),
      {"--data-dir", dir_.File("store"), "--bind-requests", requests_, "--bind-events", events_},
      dir_.File("store.log"));
  ASSERT_EQ(store_->endpoint("requests"), requests_);
  ASSERT_EQ(store_->endpoint("events"), events_);
  ASSERT_EQ(AppendBurst(context_, requests_,
                        Burst{.prefix = "after",
                              .events = kAfter,
                              .stream_of = [](uint64_t n) { return Stream("s-", n, 30); }}),
            kAfter);
  // A last event: anything delivered twice would come before it.
  const uint64_t last = AppendOne(context_, requests_, "end", "end");
  ASSERT_EQ(last, probes + kBefore + kAfter + 1);

  EXPECT_TRUE(subscriber.WaitForCount(last)) << "stuck at " << subscriber.size();
  subscriber.Stop();
  const std::vector<EventRecord> log = ReadWholeLog(context_, requests_);
  ASSERT_EQ(log.size(), last);
  ASSERT_TRUE(GapFreeLog(log));
  EXPECT_TRUE(SameEvents(log, subscriber.events()));
  std::cout << "[ restart ] " << delivered_at_kill << " of " << probes + kBefore
            << " delivered when the store was killed; " << Describe(subscriber.counters()) << "\n";
}

// ---------------------------------------------------------------------------
// 5. A silent tail: the last events never arrive live, and nothing follows.

// Heartbeats still arrive: their head shows the loss.
TEST_F(SubscriberProcessTest, SilentTailIsRepairedFromTheHeartbeatHead) {
  constexpr uint64_t kBurst = 2000;
  constexpr uint64_t kTail = 100;
  std::atomic<uint64_t> lose_after{std::numeric_limits<uint64_t>::max()};
  LossyRelay relay(context_, events_,
                   {.send_hwm = 0, .drop = [&](const es::v1::LiveMessage& message) {
                      return message.has_event() &&
                             message.event().global_position() > lose_after.load();
                    }});
  ASSERT_TRUE(relay.WaitForUpstream());
  CatchUpOptions options = Options(relay.endpoint());
  options.silence_timeout = seconds(60);  // never silent: heartbeats keep coming
  PumpedSubscriber subscriber(context_, options);
  const uint64_t probes = FollowLive(context_, requests_, {&subscriber}, "probe");
  ASSERT_FALSE(HasFailure());
  lose_after = probes + kBurst - kTail;

  ASSERT_EQ(AppendBurst(context_, requests_,
                        Burst{.prefix = "tail",
                              .events = kBurst,
                              .events_per_append = 1,
                              .clients = 2,
                              .window = 8,
                              .stream_of = [](uint64_t n) { return Stream("s-", n, 10); }}),
            kBurst);

  EXPECT_TRUE(subscriber.WaitForCount(probes + kBurst, seconds(10)))
      << "stuck at " << subscriber.size() << " of " << probes + kBurst;
  const std::vector<EventRecord> log = ReadWholeLog(context_, requests_);
  ASSERT_EQ(log.size(), probes + kBurst);
  // Nothing after the tail to reveal a duplicate: give one a chance to show.
  EXPECT_FALSE(subscriber.WaitForCount(log.size() + 1, milliseconds(300)));
  subscriber.Stop();
  EXPECT_TRUE(SameEvents(log, subscriber.events()));
  ASSERT_TRUE(relay.WaitForEvent(log.size()));
  EXPECT_EQ(relay.dropped_by_predicate(), kTail);
  EXPECT_GE(subscriber.counters().read_events, kTail);
  EXPECT_GT(subscriber.counters().repairs, 0u);
}

// Heartbeats are lost too (the relay goes dark with the tail): only the
// subscriber's own silence probe can find the tail.
TEST_F(SubscriberProcessTest, SilentTailIsRepairedBySilenceProbeWhenHeartbeatsAreLostToo) {
  constexpr uint64_t kBurst = 2000;
  constexpr uint64_t kTail = 100;
  std::atomic<uint64_t> lose_after{std::numeric_limits<uint64_t>::max()};
  std::atomic<bool> dark{false};
  LossyRelay relay(
      context_, events_,
      {.send_hwm = 0, .drop = [&](const es::v1::LiveMessage& message) {
         if (message.has_event() && message.event().global_position() > lose_after.load()) {
           dark = true;
         }
         return dark.load();
       }});
  ASSERT_TRUE(relay.WaitForUpstream());
  CatchUpOptions options = Options(relay.endpoint());
  options.silence_timeout = milliseconds(300);
  PumpedSubscriber subscriber(context_, options);
  const uint64_t probes = FollowLive(context_, requests_, {&subscriber}, "probe");
  ASSERT_FALSE(HasFailure());
  lose_after = probes + kBurst - kTail;

  ASSERT_EQ(AppendBurst(context_, requests_,
                        Burst{.prefix = "tail",
                              .events = kBurst,
                              .events_per_append = 1,
                              .clients = 2,
                              .window = 8,
                              .stream_of = [](uint64_t n) { return Stream("s-", n, 10); }}),
            kBurst);

  EXPECT_TRUE(subscriber.WaitForCount(probes + kBurst, seconds(10)))
      << "stuck at " << subscriber.size() << " of " << probes + kBurst;
  const std::vector<EventRecord> log = ReadWholeLog(context_, requests_);
  ASSERT_EQ(log.size(), probes + kBurst);
  EXPECT_FALSE(subscriber.WaitForCount(log.size() + 1, milliseconds(300)));
  subscriber.Stop();
  EXPECT_TRUE(SameEvents(log, subscriber.events()));
  ASSERT_TRUE(relay.WaitForEvent(log.size()));
  EXPECT_GT(relay.dropped_by_predicate(), kTail) << "no heartbeat was lost";
  EXPECT_GE(subscriber.counters().read_events, kTail);
}

// ---------------------------------------------------------------------------
// 6. A checkpoint: a new subscriber from position() + 1 continues exactly.

TEST_F(SubscriberProcessTest, ResumingFromTheCheckpointNeitherSkipsNorRepeats) {
  constexpr uint64_t kHistory = 3000;
  constexpr size_t kFirstRun = 1234;  // mid-page: the subscriber holds more than it delivered
  constexpr uint64_t kWhileAway = 2000;
  constexpr uint64_t kLive = 500;
  auto stream_of = [](uint64_t n) { return Stream("s-", n, 40); };
  ASSERT_EQ(AppendBurst(context_, requests_,
                        Burst{.prefix = "history", .events = kHistory, .stream_of = stream_of}),
            kHistory);

  std::vector<EventRecord> got;
  uint64_t checkpoint = 0;
  {
    CatchUpSubscriber first(context_, Options(events_, 1));
    got = Collect(first, kFirstRun);
    ASSERT_EQ(got.size(), kFirstRun);
    checkpoint = first.position();
    EXPECT_EQ(checkpoint, got.back().global_position());
  }  // destroyed with events still queued
  ASSERT_EQ(AppendBurst(context_, requests_,
                        Burst{.prefix = "away", .events = kWhileAway, .stream_of = stream_of}),
            kWhileAway);

  CatchUpSubscriber second(context_, Options(events_, checkpoint + 1));
  std::vector<EventRecord> rest = Collect(second, kHistory + kWhileAway - kFirstRun);
  ASSERT_EQ(AppendBurst(context_, requests_,
                        Burst{.prefix = "live", .events = kLive, .stream_of = stream_of}),
            kLive);
  std::vector<EventRecord> live = Collect(second, kLive);
  EXPECT_FALSE(second.Next(milliseconds(300)).has_value()) << "an event past the head";
  got.insert(got.end(), rest.begin(), rest.end());
  got.insert(got.end(), live.begin(), live.end());

  const std::vector<EventRecord> log = ReadWholeLog(context_, requests_);
  ASSERT_EQ(log.size(), kHistory + kWhileAway + kLive);
  EXPECT_TRUE(SameEvents(log, got));
}

// Next(&record) with one record reused throughout (how the saga and the
// benchmarks read): every event comes out whole, with nothing carried over
// from the longer event the record held before — live and from store reads.
TEST_F(SubscriberProcessTest, AReusedRecordCarriesNothingOverFromTheEventBefore) {
  auto append = [&](const std::string& stream, const std::string& command_id,
                    const std::string& data) {
    es::v1::AppendRequest request = MakeAppend(stream, command_id, ExpectAny());
    request.mutable_events(0)->set_data(data);
    es::v1::StoreReply reply = CallStore(context_, requests_, AppendRequestOf(request));
    ASSERT_TRUE(reply.has_append()) << reply.DebugString();
  };
  append("long-1", "a-long-command-id-of-forty-characters-xx", std::string(5000, 'x'));
  append("s", "c", "");  // short ids, empty data
  CatchUpSubscriber subscriber(context_, Options(events_));
  es::v1::EventRecord record;
  std::vector<EventRecord> got;
  for (int i = 0; i < 2 && subscriber.Next(&record, seconds(10)); ++i) got.push_back(record);
  // Live now: the short event is parsed into the recycled record that held
  // the long one (the most recently recycled is reused first).
  append("t", "d", "");
  append("long-2", "another-long-command-id-of-forty-chars-x", std::string(3000, 'y'));
  for (int i = 0; i < 2 && subscriber.Next(&record, seconds(10)); ++i) got.push_back(record);
  EXPECT_FALSE(subscriber.Next(&record, milliseconds(300))) << "an event past the head";
  EXPECT_TRUE(SameEvents(ReadWholeLog(context_, requests_), got));
}

// The same with a filter: position() may lie past the last event delivered
// (positions scanned and found not to match), and is still exact.
TEST_F(SubscriberProcessTest, ResumingAFilteredSubscriberFromItsCheckpointNeitherSkipsNorRepeats) {
  constexpr uint64_t kHistory = 6000;
  constexpr size_t kFirstRun = 1111;
  auto stream_of = [](uint64_t n) { return Stream(n % 3 == 0 ? "b-" : "a-", n, 20); };
  ASSERT_EQ(AppendBurst(context_, requests_,
                        Burst{.prefix = "history",
                              .events = kHistory,
                              .events_per_append = 1,
                              .stream_of = stream_of}),
            kHistory);
  const std::vector<EventRecord> expected = WithPrefix(ReadWholeLog(context_, requests_), "b-");
  ASSERT_EQ(expected.size(), kHistory / 3);

  CatchUpOptions options = Options(events_, 1);
  options.stream_prefix = "b-";
  std::vector<EventRecord> got;
  uint64_t checkpoint = 0;
  {
    CatchUpSubscriber first(context_, options);
    got = Collect(first, kFirstRun);
    ASSERT_EQ(got.size(), kFirstRun);
    checkpoint = first.position();
    EXPECT_GE(checkpoint, got.back().global_position());
  }
  options.from_position = checkpoint + 1;
  CatchUpSubscriber second(context_, options);
  std::vector<EventRecord> rest = Collect(second, expected.size() - kFirstRun);
  EXPECT_FALSE(second.Next(milliseconds(300)).has_value()) << "an event past the last b-";
  got.insert(got.end(), rest.begin(), rest.end());
  EXPECT_TRUE(SameEvents(expected, got));
}

}  // namespace
}  // namespace es::testing
