#include "bench/pipelined_appender.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <latch>
#include <memory>
#include <mutex>
#include <random>
#include <system_error>
#include <thread>
#include <vector>

#include "bench/bench_common.h"
#include "bus/async_rpc.h"
#include "es/v1/store.pb.h"

namespace es::bench {
namespace {

// Random bytes that payloads are cut from at random offsets (incompressible,
// cheap per event). 64 KiB stays in the CPU's cache: cut from a 1 MiB pool,
// the copy of each payload missed it and was ~9% of the client's CPU.
std::string RandomPool(size_t payload_bytes) {
  const size_t size = std::max<size_t>(size_t{64} << 10, payload_bytes * 2);
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
// outstanding, plan.pipeline of them to a message (an append_many when more
// than one). Leaner than bus::AsyncRpc on purpose (it is what the benchmark
// measures against Redis's C client): no callback or map entry per request,
// the request bytes built in reused buffers, a single append's reply judged
// from its first bytes and decoded only if it is an error. No resends: a
// request unanswered past the deadline fails the run.
struct Appender {
  Appender(zmq::context_t& context, const std::string& endpoint, const AppendPlan& plan)
      : socket(context, zmq::socket_type::dealer),
        slots(static_cast<size_t>(plan.in_flight / plan.pipeline)),
        capacity(static_cast<size_t>(plan.in_flight)) {
    socket.set(zmq::sockopt::linger, 0);
    socket.set(zmq::sockopt::sndhwm, 0);  // bounded by in_flight
    socket.set(zmq::sockopt::rcvhwm, 0);
    socket.connect(endpoint);
  }
  struct Slot {       // one message in flight
    uint64_t id = 0;  // 0: free
    Clock::time_point sent{};
    int appends = 0;
    int events = 0;
  };
  zmq::socket_t socket;
  std::vector<Slot> slots;  // in_flight / pipeline of them: a linear scan is cheap
  size_t capacity;          // appends in flight at most
  size_t in_flight = 0;     // appends
  uint64_t next_id = 1;
  bool exhausted = false;
};

// The tallies of one thread, merged into the outcome at its end.
struct ThreadTally {
  LatencyHistogram latency;
  uint64_t events = 0, appends = 0, errors = 0, unanswered = 0;
  std::string first_error;
  Clock::time_point last_ack{};
  es::v1::StoreReply reply;  // reused to decode append_many replies
};

void NoteError(ThreadTally& tally, const std::string& what) {
  ++tally.errors;
  if (tally.first_error.empty()) tally.first_error = what;
}

std::string ErrorText(const es::v1::Error& error) {
  return es::v1::ErrorCode_Name(error.code()) + ": " + error.message();
}

// Whether an append_many reply, read off the wire, carries `appends` results
// that are all acknowledgements (no error): the common case, judged without
// decoding every result and its strings. False sends the caller to a full
// decode.
bool AllAcknowledged(const zmq::message_t& body, int appends) {
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(static_cast<const uint8_t*>(body.data()),
                                            static_cast<int>(body.size()));
  uint64_t request_id = 0;
  uint32_t length = 0;
  if (in.ReadTag() != WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_VARINT) ||
      !in.ReadVarint64(&request_id) ||
      in.ReadTag() != WireFormatLite::MakeTag(es::v1::StoreReply::kAppendManyFieldNumber,
                                              WireFormatLite::WIRETYPE_LENGTH_DELIMITED) ||
      !in.ReadVarint32(&length) ||
      static_cast<uint64_t>(in.CurrentPosition()) + length != body.size()) {
    return false;
  }
  const uint32_t item_tag = WireFormatLite::MakeTag(es::v1::AppendManyResult::kResultsFieldNumber,
                                                    WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  const uint32_t append_tag = WireFormatLite::MakeTag(es::v1::AppendManyItem::kAppendFieldNumber,
                                                      WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  int acknowledged = 0;
  while (!in.ExpectAtEnd()) {
    uint32_t item_length = 0;
    if (in.ReadTag() != item_tag || !in.ReadVarint32(&item_length)) return false;
    const int item_end = in.CurrentPosition() + static_cast<int>(item_length);
    // An item whose first field is its acknowledgement (an error is field 2).
    if (in.ReadTag() != append_tag || in.CurrentPosition() > item_end ||
        !in.Skip(item_end - in.CurrentPosition())) {
      return false;
    }
    ++acknowledged;
  }
  return acknowledged == appends;
}

// Judges one reply to `slot`'s message: every append acknowledged counts,
// with the message's latency.
void Judge(Shared& shared, const Appender::Slot& slot, const zmq::message_t& body,
           const es::bus::ReplyHead& head, ThreadTally& tally) {
  const auto now = Clock::now();
  int acknowledged = 0;
  int events = 0;
  if (head.body_field == es::v1::StoreReply::kAppend && slot.appends == 1) {
    acknowledged = 1;
    events = slot.events;
  } else if (head.body_field == es::v1::StoreReply::kAppendMany &&
             AllAcknowledged(body, slot.appends)) {
    acknowledged = slot.appends;
    events = slot.events;
  } else if (head.body_field == es::v1::StoreReply::kAppendMany) {
    es::v1::StoreReply& reply = tally.reply;
    if (!reply.ParseFromArray(body.data(), static_cast<int>(body.size())) ||
        reply.append_many().results_size() != slot.appends) {
      NoteError(tally, "an append_many reply without one result per append");
      tally.errors += static_cast<uint64_t>(slot.appends) - 1;
    } else {
      for (const es::v1::AppendManyItem& item : reply.append_many().results()) {
        if (item.has_append()) {
          ++acknowledged;
          events +=
              static_cast<int>(item.append().last_version() - item.append().first_version() + 1);
        } else {
          NoteError(tally,
                    item.has_error() ? ErrorText(item.error()) : "an empty append_many result");
        }
      }
    }
  } else {
    es::v1::StoreReply& reply = tally.reply;
    reply.ParseFromArray(body.data(), static_cast<int>(body.size()));
    NoteError(tally,
              reply.has_error() ? ErrorText(reply.error()) : "unexpected reply to an append");
    tally.errors += static_cast<uint64_t>(slot.appends) - 1;
  }
  if (acknowledged == 0) return;
  for (int i = 0; i < acknowledged; ++i) tally.latency.Record(now - slot.sent);
  tally.appends += static_cast<uint64_t>(acknowledged);
  tally.events += static_cast<uint64_t>(events);
  tally.last_ack = now;
  if (shared.events_done != nullptr) {
    shared.events_done->fetch_add(static_cast<uint64_t>(events), std::memory_order_relaxed);
  }
}

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
    Judge(shared, *slot, body, *head, tally);
    appender.in_flight -= static_cast<size_t>(slot->appends);
    slot->id = 0;
  }
}

// Fills `append` as append number `n` of the run; returns its event count.
int FillAppend(const Shared& shared, uint64_t n, std::mt19937_64& engine,
               es::v1::AppendRequest* append) {
  const AppendPlan& plan = shared.plan;
  const size_t max_offset = shared.pool.size() - plan.payload_bytes;
  const uint64_t first_event = n * static_cast<uint64_t>(plan.events_per_append);
  const int count = static_cast<int>(
      std::min<uint64_t>(static_cast<uint64_t>(plan.events_per_append), plan.events - first_event));
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
  return count;
}

// Tops `appender` up to plan.in_flight appends in flight, plan.pipeline to a
// message (the run's last message may carry fewer).
void Refill(Shared& shared, Appender& appender, std::mt19937_64& engine,
            es::v1::StoreRequest& request, std::string& bytes) {
  const AppendPlan& plan = shared.plan;
  const auto per_message = static_cast<size_t>(plan.pipeline);
  while (!appender.exhausted && appender.in_flight + per_message <= appender.capacity &&
         !shared.abort.load(std::memory_order_relaxed)) {
    const uint64_t n = shared.next_append.fetch_add(per_message, std::memory_order_relaxed);
    if (n >= shared.total_appends) {
      appender.exhausted = true;
      break;
    }
    const int appends = static_cast<int>(std::min<uint64_t>(per_message, shared.total_appends - n));
    int events = 0;
    if (per_message == 1) {
      events = FillAppend(shared, n, engine, request.mutable_append());
    } else {
      auto* many = request.mutable_append_many()->mutable_appends();
      while (many->size() > appends) many->RemoveLast();
      while (many->size() < appends) many->Add();
      for (int i = 0; i < appends; ++i) {
        events += FillAppend(shared, n + static_cast<uint64_t>(i), engine, many->Mutable(i));
      }
    }
    const uint64_t id = appender.next_id++;
    request.set_request_id(id);
    bytes.clear();
    request.AppendToString(&bytes);
    auto slot = std::find_if(appender.slots.begin(), appender.slots.end(),
                             [](const Appender::Slot& s) { return s.id == 0; });
    *slot = Appender::Slot{.id = id, .sent = Clock::now(), .appends = appends, .events = events};
    appender.in_flight += static_cast<size_t>(appends);
    appender.socket.send(zmq::message_t(), zmq::send_flags::sndmore);
    appender.socket.send(zmq::buffer(bytes), zmq::send_flags::none);
  }
}

// An epoll set over the notification descriptors (ZMQ_FD) of sockets.
class EpollSet {
 public:
  EpollSet() : fd_(epoll_create1(EPOLL_CLOEXEC)) {
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  }
  ~EpollSet() { close(fd_); }
  EpollSet(const EpollSet&) = delete;
  EpollSet& operator=(const EpollSet&) = delete;
  void Add(int fd, size_t index) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = index;
    if (epoll_ctl(fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
      throw std::system_error(errno, std::generic_category(), "epoll_ctl");
    }
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

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
  EpollSet epoll;
  for (size_t i = 0; i < appenders.size(); ++i) {
    epoll.Add(appenders[i]->socket.get(zmq::sockopt::fd), i);
  }
  std::vector<epoll_event> events(appenders.size());
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
    // Wait for a socket's notification descriptor; ZMQ_EVENTS then takes in
    // what woke it, and the next pass reads it. (zmq_poll over 50 sockets
    // asks each for ZMQ_EVENTS on every call: two system calls per socket,
    // most of this loop's cost once it had to wait often.)
    const int woken = epoll_wait(epoll.fd(), events.data(), static_cast<int>(events.size()), 100);
    for (int i = 0; i < woken; ++i) {
      (void)appenders[events[static_cast<size_t>(i)].data.u64]->socket.get(zmq::sockopt::events);
    }
    // Past the deadline unanswered: give up on the run.
    const auto now = Clock::now();
    for (auto& appender : appenders) {
      for (auto& slot : appender->slots) {
        if (slot.id != 0 && now - slot.sent > shared.plan.deadline) {
          slot.id = 0;
          appender->in_flight -= static_cast<size_t>(slot.appends);
          tally.unanswered += static_cast<uint64_t>(slot.appends);
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
