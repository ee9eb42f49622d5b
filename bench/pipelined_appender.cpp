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
// outstanding. Leaner than bus::AsyncRpc on purpose (it is what the
// benchmark measures against Redis's C client): no callback or map entry per
// request, the request bytes built in reused buffers, a reply judged from its
// first bytes and decoded only if it is an error. No resends: a request
// unanswered past the deadline fails the run.
struct Appender {
  Appender(zmq::context_t& context, const std::string& endpoint, const AppendPlan& plan)
      : socket(context, zmq::socket_type::dealer), slots(static_cast<size_t>(plan.in_flight)) {
    socket.set(zmq::sockopt::linger, 0);
    socket.set(zmq::sockopt::sndhwm, 0);  // bounded by in_flight
    socket.set(zmq::sockopt::rcvhwm, 0);
    socket.connect(endpoint);
  }
  struct Slot {
    uint64_t id = 0;  // 0: free
    Clock::time_point sent{};
    int events = 0;
  };
  zmq::socket_t socket;
  std::vector<Slot> slots;  // plan.in_flight of them: a linear scan is cheap
  size_t in_flight = 0;
  uint64_t next_id = 1;
  bool exhausted = false;
};

// The tallies of one thread, merged into the outcome at its end.
struct ThreadTally {
  LatencyHistogram latency;
  uint64_t events = 0, appends = 0, errors = 0, unanswered = 0;
  std::string first_error;
  Clock::time_point last_ack{};
};

// Reads every reply waiting on `appender`; true if there was one.
bool DrainReplies(Shared& shared, Appender& appender, ThreadTally& tally) {
  bool any = false;
  while (true) {
    zmq::message_t first;
    if (!appender.socket.recv(first, zmq::recv_flags::dontwait)) return any;
    any = true;
    zmq::message_t body;
    bool more = first.more();
    const bool have_body = first.size() != 0;
    if (have_body) body = std::move(first);
    while (more) {  // [empty][body]; tolerate extra frames
      zmq::message_t frame;
      if (!appender.socket.recv(frame, zmq::recv_flags::none)) break;
      more = frame.more();
      if (body.size() == 0) body = std::move(frame);
    }
    const std::optional<es::bus::ReplyHead> head = es::bus::ReadReplyHead(body);
    if (!head) continue;
    auto slot = std::find_if(appender.slots.begin(), appender.slots.end(),
                             [&](const Appender::Slot& s) { return s.id == head->request_id; });
    if (slot == appender.slots.end()) continue;
    slot->id = 0;
    --appender.in_flight;
    const auto now = Clock::now();
    if (head->body_field != es::v1::StoreReply::kAppend) {
      ++tally.errors;
      if (tally.first_error.empty()) {
        es::v1::StoreReply reply;
        reply.ParseFromArray(body.data(), static_cast<int>(body.size()));
        tally.first_error = reply.has_error() ? es::v1::ErrorCode_Name(reply.error().code()) +
                                                    ": " + reply.error().message()
                                              : "unexpected reply to an append";
      }
      continue;
    }
    tally.latency.Record(now - slot->sent);
    ++tally.appends;
    tally.events += static_cast<uint64_t>(slot->events);
    tally.last_ack = now;
    if (shared.events_done != nullptr) {
      shared.events_done->fetch_add(static_cast<uint64_t>(slot->events), std::memory_order_relaxed);
    }
  }
}

// Tops `appender` up to plan.in_flight appends in flight.
void Refill(Shared& shared, Appender& appender, std::mt19937_64& engine,
            es::v1::StoreRequest& request, std::string& bytes) {
  const AppendPlan& plan = shared.plan;
  const size_t max_offset = shared.pool.size() - plan.payload_bytes;
  while (!appender.exhausted && appender.in_flight < appender.slots.size() &&
         !shared.abort.load(std::memory_order_relaxed)) {
    const uint64_t n = shared.next_append.fetch_add(1, std::memory_order_relaxed);
    if (n >= shared.total_appends) {
      appender.exhausted = true;
      break;
    }
    const uint64_t first_event = n * static_cast<uint64_t>(plan.events_per_append);
    const int count = static_cast<int>(std::min<uint64_t>(
        static_cast<uint64_t>(plan.events_per_append), plan.events - first_event));
    auto* append = request.mutable_append();
    std::string* stream = append->mutable_stream_id();
    stream->assign(plan.stream_prefix).append(std::to_string(n));
    if (plan.expect_no_stream) {
      append->mutable_expected_version()->set_no_stream(true);
    } else {
      append->mutable_expected_version()->set_any(true);
    }
    append->mutable_command_id()->assign("c-").append(*stream);
    // Reuse the event messages of the previous request.
    while (append->events_size() > count) append->mutable_events()->RemoveLast();
    while (append->events_size() < count) append->add_events()->set_type(kBenchEventType);
    for (int i = 0; i < count; ++i) {
      auto* event = append->mutable_events(i);
      event->mutable_event_id()->assign("e-").append(*stream).append("-").append(std::to_string(i));
      const size_t offset = max_offset == 0 ? 0 : engine() % max_offset;
      event->mutable_data()->assign(shared.pool.data() + offset, plan.payload_bytes);
    }
    const uint64_t id = appender.next_id++;
    request.set_request_id(id);
    bytes.clear();
    request.AppendToString(&bytes);
    auto slot = std::find_if(appender.slots.begin(), appender.slots.end(),
                             [](const Appender::Slot& s) { return s.id == 0; });
    *slot = Appender::Slot{.id = id, .sent = Clock::now(), .events = count};
    ++appender.in_flight;
    appender.socket.send(zmq::message_t(), zmq::send_flags::sndmore);
    appender.socket.send(zmq::buffer(bytes), zmq::send_flags::none);
  }
}

// Drives `connections` appenders from one thread (as redis-benchmark drives
// its clients from one event loop): the concurrency the store sees is
// connections x in_flight, without a thread per client. It reads every
// connection without waiting while replies keep coming, and polls only when
// none had any.
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
  std::string bytes;

  start.arrive_and_wait();
  for (auto& appender : appenders) Refill(shared, *appender, engine, request, bytes);
  while (true) {
    bool any = false;
    size_t in_flight = 0;
    for (auto& appender : appenders) {
      any = DrainReplies(shared, *appender, tally) || any;
      Refill(shared, *appender, engine, request, bytes);
      in_flight += appender->in_flight;
    }
    if (in_flight == 0) break;  // nothing left to send, or aborted
    if (any) continue;
    for (size_t i = 0; i < appenders.size(); ++i) {
      items[i] = {static_cast<void*>(appenders[i]->socket), 0, ZMQ_POLLIN, 0};
    }
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100));
    // Past the deadline unanswered: give up on the run.
    const auto now = Clock::now();
    for (auto& appender : appenders) {
      for (auto& slot : appender->slots) {
        if (slot.id != 0 && now - slot.sent > shared.plan.deadline) {
          slot.id = 0;
          --appender->in_flight;
          ++tally.unanswered;
          shared.abort.store(true, std::memory_order_relaxed);
        }
      }
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
