#include "bench/pipelined_appender.h"

#include <algorithm>
#include <latch>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "bench/bench_common.h"
#include "bus/async_rpc.h"
#include "es/v1/store.pb.h"

namespace es::bench {
namespace {

using StoreRpc = es::bus::AsyncRpc<es::v1::StoreRequest, es::v1::StoreReply>;

// Random bytes that payloads are cut from (incompressible, cheap per event).
std::string RandomPool(size_t payload_bytes) {
  const size_t size = std::max<size_t>(size_t{1} << 20, payload_bytes * 2);
  std::mt19937_64 engine{std::random_device{}()};
  std::string pool(size, '\0');
  for (size_t i = 0; i + 8 <= size; i += 8) {
    const uint64_t word = engine();
    for (int b = 0; b < 8; ++b)
      pool[i + static_cast<size_t>(b)] = static_cast<char>(word >> (8 * b));
  }
  return pool;
}

struct Shared {
  Shared(const AppendPlan& plan, const std::string& endpoint, const std::string& pool,
         uint64_t total_appends, std::atomic<uint64_t>* events_done)
      : plan(plan),
        endpoint(endpoint),
        pool(pool),
        total_appends(total_appends),
        events_done(events_done) {}
  const AppendPlan& plan;
  const std::string& endpoint;
  const std::string& pool;
  uint64_t total_appends;
  std::atomic<uint64_t> next_append{0};
  std::atomic<bool> abort{false};
  std::atomic<uint64_t>* events_done;
  std::mutex mutex;  // guards outcome
  AppendOutcome outcome;
  Clock::time_point last_ack{};
};

// One appender: a DEALER connection keeping up to plan.in_flight appends
// outstanding. Its callbacks run on the thread that polls it.
struct Appender {
  Appender(zmq::context_t& context, const std::string& endpoint, const AppendPlan& plan)
      : rpc(context, endpoint,
            es::bus::AsyncChannel::Options{
                .attempt_timeout = std::min(plan.deadline, std::chrono::milliseconds(3000)),
                .deadline = plan.deadline}) {}
  StoreRpc rpc;
  bool exhausted = false;
};

// The tallies of one thread, merged into the outcome at its end.
struct ThreadTally {
  LatencyHistogram latency;
  uint64_t events = 0, appends = 0, errors = 0, unanswered = 0;
  std::string first_error;
  Clock::time_point last_ack{};
};

// Tops `appender` up to plan.in_flight appends in flight.
void Refill(Shared& shared, Appender& appender, std::mt19937_64& engine, ThreadTally& tally,
            es::v1::StoreRequest& request) {
  const AppendPlan& plan = shared.plan;
  const size_t max_offset = shared.pool.size() - plan.payload_bytes;
  while (!appender.exhausted && appender.rpc.in_flight() < static_cast<size_t>(plan.in_flight) &&
         !shared.abort.load(std::memory_order_relaxed)) {
    const uint64_t n = shared.next_append.fetch_add(1, std::memory_order_relaxed);
    if (n >= shared.total_appends) {
      appender.exhausted = true;
      break;
    }
    const uint64_t first_event = n * static_cast<uint64_t>(plan.events_per_append);
    const int count = static_cast<int>(std::min<uint64_t>(
        static_cast<uint64_t>(plan.events_per_append), plan.events - first_event));
    request.Clear();
    auto* append = request.mutable_append();
    const std::string stream = plan.stream_prefix + std::to_string(n);
    append->set_stream_id(stream);
    if (plan.expect_no_stream) {
      append->mutable_expected_version()->set_no_stream(true);
    } else {
      append->mutable_expected_version()->set_any(true);
    }
    append->set_command_id("c-" + stream);
    for (int i = 0; i < count; ++i) {
      auto* event = append->add_events();
      event->set_event_id("e-" + stream + "-" + std::to_string(i));
      event->set_type(kBenchEventType);
      const size_t offset = max_offset == 0 ? 0 : engine() % max_offset;
      event->set_data(shared.pool.data() + offset, plan.payload_bytes);
    }
    const auto sent = Clock::now();
    appender.rpc.Call(request, [&shared, &tally, sent,
                                count](std::optional<es::v1::StoreReply> reply) {
      const auto now = Clock::now();
      if (!reply) {
        ++tally.unanswered;
        shared.abort.store(true, std::memory_order_relaxed);
        return;
      }
      if (!reply->has_append()) {
        ++tally.errors;
        if (tally.first_error.empty()) {
          tally.first_error = reply->has_error() ? es::v1::ErrorCode_Name(reply->error().code()) +
                                                       ": " + reply->error().message()
                                                 : "unexpected reply to an append";
        }
        return;
      }
      tally.latency.Record(now - sent);
      ++tally.appends;
      tally.events += static_cast<uint64_t>(count);
      tally.last_ack = now;
      if (shared.events_done != nullptr) {
        shared.events_done->fetch_add(static_cast<uint64_t>(count), std::memory_order_relaxed);
      }
    });
  }
}

// Drives `connections` appenders from one thread, polling them together (as
// redis-benchmark drives its clients from one event loop): the concurrency
// the store sees is connections x in_flight, without a thread per client.
void AppenderLoop(zmq::context_t& context, Shared& shared, int connections, std::latch& start) {
  std::vector<std::unique_ptr<Appender>> appenders;
  appenders.reserve(static_cast<size_t>(connections));
  for (int i = 0; i < connections; ++i) {
    appenders.push_back(std::make_unique<Appender>(context, shared.endpoint, shared.plan));
  }
  std::vector<zmq::pollitem_t> items(appenders.size());
  std::mt19937_64 engine{std::random_device{}()};
  ThreadTally tally;
  es::v1::StoreRequest request;

  start.arrive_and_wait();
  for (auto& appender : appenders) Refill(shared, *appender, engine, tally, request);
  while (true) {
    size_t in_flight = 0;
    for (size_t i = 0; i < appenders.size(); ++i) {
      in_flight += appenders[i]->rpc.in_flight();
      items[i] = {static_cast<void*>(appenders[i]->rpc.socket()), 0, ZMQ_POLLIN, 0};
    }
    if (in_flight == 0) break;  // nothing left to send, or aborted
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100));
    for (size_t i = 0; i < appenders.size(); ++i) {
      Appender& appender = *appenders[i];
      if (items[i].revents & ZMQ_POLLIN) appender.rpc.DispatchReplies();
      appender.rpc.Tick();
      Refill(shared, appender, engine, tally, request);
    }
  }

  std::lock_guard lock(shared.mutex);
  shared.outcome.events += tally.events;
  shared.outcome.appends += tally.appends;
  shared.outcome.errors += tally.errors;
  shared.outcome.unanswered += tally.unanswered;
  if (shared.outcome.first_error.empty()) shared.outcome.first_error = tally.first_error;
  shared.outcome.latency.Merge(tally.latency);
  shared.last_ack = std::max(shared.last_ack, tally.last_ack);
}

}  // namespace

AppendOutcome RunAppends(zmq::context_t& context, const std::string& endpoint,
                         const AppendPlan& plan, std::atomic<uint64_t>* events_done) {
  const std::string pool = RandomPool(plan.payload_bytes);
  const uint64_t per = static_cast<uint64_t>(plan.events_per_append);
  Shared shared(plan, endpoint, pool, (plan.events + per - 1) / per, events_done);
  const int thread_count = std::clamp(plan.threads, 1, plan.appenders);
  std::latch start(thread_count + 1);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(thread_count));
  for (int t = 0; t < thread_count; ++t) {
    // Spread the connections evenly: the first (appenders % threads) get one more.
    const int connections =
        plan.appenders / thread_count + (t < plan.appenders % thread_count ? 1 : 0);
    threads.emplace_back([&, connections] { AppenderLoop(context, shared, connections, start); });
  }
  start.arrive_and_wait();
  const auto began = Clock::now();
  for (auto& thread : threads) thread.join();
  const auto ended = shared.last_ack == Clock::time_point{} ? Clock::now() : shared.last_ack;
  shared.outcome.seconds = SecondsSince(began, ended);
  return std::move(shared.outcome);
}

}  // namespace es::bench
