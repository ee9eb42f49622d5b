// esbench catchup: how fast a new subscriber reads history. If the store
// holds fewer than N events it first appends the missing ones (pipelined,
// 8 appenders x 32 in flight x 50 events per append: not timed), then times
// a bus::CatchUpSubscriber from position 1 until it has N events.
#include <cstdio>

#include "bench/modes.h"
#include "bench/pipelined_appender.h"
#include "bench/progress.h"
#include "bus/catch_up_subscriber.h"

namespace es::bench {

int RunCatchupBench(BenchEnv& env, const CatchupArgs& args) {
  const auto head = PingStore(env, env.ping_wait());
  if (!head) {
    return Fail(kUnavailable, "store_service did not answer at " + env.endpoints.store_requests);
  }
  uint64_t filled = 0;
  if (*head < args.count) {
    AppendPlan plan{.appenders = 8,
                    .in_flight = 32,
                    .events_per_append = 50,
                    .payload_bytes = args.payload_bytes,
                    .events = args.count - *head,
                    .expect_no_stream = true,
                    .stream_prefix = "catchup-" + NewRunTag() + "-",
                    .deadline = env.timeout};
    std::atomic<uint64_t> done{0};
    Progress progress("catchup: filling the store", "events", plan.events, done);
    AppendOutcome outcome = RunAppends(env.context, env.endpoints.store_requests, plan, &done);
    progress.Stop();
    if (outcome.unanswered > 0) return Fail(kUnavailable, "store_service stopped answering");
    if (outcome.errors > 0)
      return Fail(kFailed, "filling the store failed: " + outcome.first_error);
    filled = outcome.events;
  }

  std::atomic<uint64_t> got{0};
  uint64_t expected = 1;
  bool in_order = true;
  const auto began = Clock::now();
  {
    Progress progress("catchup", "events", args.count, got);
    es::bus::CatchUpOptions options;
    options.store_requests = env.endpoints.store_requests;
    options.store_events = env.endpoints.store_events;
    options.from_position = 1;
    options.page_size = args.page_size;
    es::bus::CatchUpSubscriber subscriber(env.context, options);
    const auto deadline = began + env.timeout;
    uint64_t n = 0;
    es::v1::EventRecord event;  // reused: the subscriber recycles it
    while (n < args.count) {
      if (!subscriber.Next(&event, std::chrono::milliseconds(100))) {
        if (Clock::now() >= deadline) break;
        continue;
      }
      if (event.global_position() != expected) in_order = false;
      expected = event.global_position() + 1;
      ++n;
      if ((n & 1023) == 0) got.store(n, std::memory_order_relaxed);
    }
    got.store(n, std::memory_order_relaxed);
  }
  const double seconds = SecondsSince(began);
  const uint64_t events = got.load();
  const double rate = PerSecond(static_cast<double>(events), seconds);
  if (env.json) {
    std::printf(
        "{\"mode\":\"catchup\",\"events\":%llu,\"seconds\":%.3f,\"events_per_s\":%.1f,"
        "\"page_size\":%u,\"appended_first\":%llu}\n",
        static_cast<unsigned long long>(events), seconds, rate, args.page_size,
        static_cast<unsigned long long>(filled));
  } else {
    if (filled > 0) {
      std::printf("catchup: appended %s events first\n",
                  Grouped(static_cast<double>(filled)).c_str());
    }
    std::printf("catchup: %s events from position 1 in %.2f s: %s events/s\n",
                Grouped(static_cast<double>(events)).c_str(), seconds, Grouped(rate).c_str());
  }
  std::fflush(stdout);
  if (events < args.count) {
    return Fail(kUnavailable, "read only " + std::to_string(events) + " of " +
                                  std::to_string(args.count) + " events within " +
                                  std::to_string(env.timeout.count()) + " s");
  }
  if (!in_order) return Fail(kFailed, "events came out of order or with a gap");
  return kOk;
}

}  // namespace es::bench
