#include "bench/pipelined_appender.h"

#include <algorithm>
#include <latch>
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

void AppenderThread(zmq::context_t& context, Shared& shared, std::latch& start) {
  const AppendPlan& plan = shared.plan;
  StoreRpc rpc(context, shared.endpoint,
               es::bus::AsyncChannel::Options{
                   .attempt_timeout = std::min(plan.deadline, std::chrono::milliseconds(3000)),
                   .deadline = plan.deadline});
  std::mt19937_64 engine{std::random_device{}()};
  const size_t max_offset = shared.pool.size() - plan.payload_bytes;

  LatencyHistogram latency;
  uint64_t events = 0, appends = 0, errors = 0, unanswered = 0;
  std::string first_error;
  Clock::time_point last_ack{};
  bool exhausted = false;

  start.arrive_and_wait();
  while (true) {
    while (!exhausted && rpc.in_flight() < static_cast<size_t>(plan.in_flight) &&
           !shared.abort.load(std::memory_order_relaxed)) {
      const uint64_t n = shared.next_append.fetch_add(1, std::memory_order_relaxed);
      if (n >= shared.total_appends) {
        exhausted = true;
        break;
      }
      const uint64_t first_event = n * static_cast<uint64_t>(plan.events_per_append);
      const int count = static_cast<int>(std::min<uint64_t>(
          static_cast<uint64_t>(plan.events_per_append), plan.events - first_event));
      es::v1::StoreRequest request;
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
      rpc.Call(request, [&, sent, count](std::optional<es::v1::StoreReply> reply) {
        const auto now = Clock::now();
        if (!reply) {
          ++unanswered;
          shared.abort.store(true, std::memory_order_relaxed);
          return;
        }
        if (!reply->has_append()) {
          ++errors;
          if (first_error.empty()) {
            first_error = reply->has_error() ? es::v1::ErrorCode_Name(reply->error().code()) +
                                                   ": " + reply->error().message()
                                             : "unexpected reply to an append";
          }
          return;
        }
        latency.Record(now - sent);
        ++appends;
        events += static_cast<uint64_t>(count);
        last_ack = now;
        if (shared.events_done != nullptr) {
          shared.events_done->fetch_add(static_cast<uint64_t>(count), std::memory_order_relaxed);
        }
      });
    }
    if (rpc.in_flight() == 0 && (exhausted || shared.abort.load(std::memory_order_relaxed))) break;
    zmq::pollitem_t item{static_cast<void*>(rpc.socket()), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(100));
    rpc.DispatchReplies();
    rpc.Tick();
  }

  std::lock_guard lock(shared.mutex);
  shared.outcome.events += events;
  shared.outcome.appends += appends;
  shared.outcome.errors += errors;
  shared.outcome.unanswered += unanswered;
  if (shared.outcome.first_error.empty()) shared.outcome.first_error = first_error;
  shared.outcome.latency.Merge(latency);
  shared.last_ack = std::max(shared.last_ack, last_ack);
}

}  // namespace

AppendOutcome RunAppends(zmq::context_t& context, const std::string& endpoint,
                         const AppendPlan& plan, std::atomic<uint64_t>* events_done) {
  const std::string pool = RandomPool(plan.payload_bytes);
  const uint64_t per = static_cast<uint64_t>(plan.events_per_append);
  Shared shared(plan, endpoint, pool, (plan.events + per - 1) / per, events_done);
  std::latch start(plan.appenders + 1);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(plan.appenders));
  for (int i = 0; i < plan.appenders; ++i) {
    threads.emplace_back([&] { AppenderThread(context, shared, start); });
  }
  start.arrive_and_wait();
  const auto began = Clock::now();
  for (auto& thread : threads) thread.join();
  const auto ended = shared.last_ack == Clock::time_point{} ? Clock::now() : shared.last_ack;
  shared.outcome.seconds = SecondsSince(began, ended);
  return std::move(shared.outcome);
}

}  // namespace es::bench
