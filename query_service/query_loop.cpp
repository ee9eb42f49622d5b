#include "query_service/query_loop.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>

namespace es::query {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kMaxRequestsPerTurn = 1000;
// Queries waiting for the projection to reach their position; past it a
// query is answered STALE at once (so waiting costs bounded memory).
constexpr size_t kMaxWaiting = 10'000;

// A page of 1000 rows is ~100 KiB: 256 queued replies bound what a client
// that does not read costs in libzmq to ~25 MiB, then 8 MiB held here.
es::bus::ServerSocketOptions QuerySocketOptions() {
  return es::bus::ServerSocketOptions{.max_frame_bytes = size_t{1} << 20,
                                      .send_hwm = 256,
                                      .receive_hwm = 1000,
                                      .held_bytes_per_peer = size_t{8} << 20,
                                      .held_bytes_total = size_t{64} << 20,
                                      .linger_ms = 0};
}

zmq::message_t MessageOf(const google::protobuf::MessageLite& message) {
  const std::string body = message.SerializeAsString();
  return zmq::message_t(body.data(), body.size());
}

uint64_t ResidentSetBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0, resident = 0;
  if (!(statm >> pages >> resident)) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

es::v1::QueryReply ErrorReply(uint64_t request_id, uint64_t position, std::string message) {
  es::v1::QueryReply reply;
  reply.set_request_id(request_id);
  reply.set_position(position);
  reply.mutable_error()->set_code(es::v1::ERROR_CODE_BAD_REQUEST);
  reply.mutable_error()->set_message(std::move(message));
  return reply;
}

bool Interrupted(const zmq::error_t& error) { return error.num() == EINTR; }

}  // namespace

void Log(const char* format, ...) {
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &local);
  std::fprintf(stderr, "%s query_service: ", stamp);
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
}

QueryLoop::QueryLoop(zmq::context_t& context, QueryOptions options)
    : options_(std::move(options)),
      context_(context),
      projection_(std::make_unique<Projection>(LivePath())),
      router_(context, QuerySocketOptions()) {
  router_.socket().bind(options_.bind);
  NewSubscriber();
}

QueryLoop::~QueryLoop() = default;

std::string QueryLoop::endpoint() const { return router_.bound_endpoint(); }

void QueryLoop::NewSubscriber() {
  es::bus::CatchUpOptions options{.store_requests = options_.store_requests,
                                  .store_events = options_.store_events,
                                  .from_position = projection_->position() + 1};
  options.batched = true;
  options.name = "query_service";
  subscriber_.reset();
  subscriber_ = std::make_unique<es::bus::CatchUpSubscriber>(context_, options);
}

bool QueryLoop::Run(const std::atomic<bool>& stop) {
  Log("projecting from position %llu", static_cast<unsigned long long>(projection_->position() + 1));
  try {
    while (!stop.load()) {
      router_.Flush();
      zmq::pollitem_t items[] = {
          {router_.socket().handle(), 0, ZMQ_POLLIN, 0},
          {static_cast<void*>(subscriber_->live_socket()), 0, ZMQ_POLLIN, 0},
      };
      long timeout_ms = 50;
      if (!waiting_.empty()) {
        const auto first = std::min_element(
            waiting_.begin(), waiting_.end(),
            [](const Waiting& a, const Waiting& b) { return a.deadline < b.deadline; });
        const auto left =
            std::chrono::duration_cast<milliseconds>(first->deadline - Clock::now()).count();
        timeout_ms = std::clamp<long>(left, 0, timeout_ms);
      }
      if (router_.has_held()) {
        timeout_ms = std::min<long>(timeout_ms, es::bus::RouterSocket::HeldPollTimeout().count());
      }
      try {
        zmq::poll(items, std::size(items), milliseconds(timeout_ms));
      } catch (const zmq::error_t& error) {
        if (!Interrupted(error)) throw;
      }
      ApplyBatch();
      ApplyRebuildSlice();
      AnswerWaiting(/*expire_only=*/false);
      ServeRequests();
    }
    ApplyBatch();
  } catch (const std::exception& e) {
    Log("fatal: %s (the projection stays at position %llu)", e.what(),
        static_cast<unsigned long long>(projection_->position()));
    return false;
  }
  Log("stopped at position %llu", static_cast<unsigned long long>(projection_->position()));
  return true;
}

void QueryLoop::ApplyBatch() {
  const auto end = Clock::now() + options_.batch_time;
  size_t taken = 0;
  bool repair = false;
  while (taken < options_.batch_events) {
    if (!subscriber_->Next(&record_, milliseconds(0))) break;
    if (!projection_->in_transaction()) projection_->Begin();
    ++taken;
    switch (projection_->Apply(record_)) {
      case Projection::Applied::kApplied:
        ++events_applied_;
        break;
      case Projection::Applied::kIgnored:
        ++events_ignored_;
        break;
      case Projection::Applied::kAlreadyApplied:
        Log("event at position %llu was already applied (projection at %llu): skipped",
            static_cast<unsigned long long>(record_.global_position()),
            static_cast<unsigned long long>(projection_->applied_position()));
        break;
      case Projection::Applied::kNotNext:
        Log("event at position %llu is not the next one (projection at %llu): repairing from "
            "the store",
            static_cast<unsigned long long>(record_.global_position()),
            static_cast<unsigned long long>(projection_->applied_position()));
        repair = true;
        break;
    }
    if (repair || ((taken & 255) == 0 && Clock::now() >= end)) break;
  }
  if (projection_->in_transaction()) {
    projection_->Commit();
    ++transactions_;
  }
  if (repair) {
    ++position_repairs_;
    NewSubscriber();
  }
}

void QueryLoop::ServeRequests() {
  for (int i = 0; i < kMaxRequestsPerTurn; ++i) {
    std::optional<es::bus::RoutedRequest> routed = router_.Receive(&dropped_requests_);
    if (!routed) return;
    if (routed->frame_error) {
      router_.Send(*routed, MessageOf(ErrorReply(0, projection_->position(), *routed->frame_error)));
      continue;
    }
    es::v1::QueryRequest request;
    if (routed->body.size() > static_cast<size_t>(INT_MAX) ||
        !request.ParseFromArray(routed->body.data(), static_cast<int>(routed->body.size()))) {
      router_.Send(*routed,
                   MessageOf(ErrorReply(0, projection_->position(), "the body is not a QueryRequest")));
      continue;
    }
    const bool control =
        request.has_ping() || request.has_stats() || request.has_rebuild_projections();
    if (control || request.min_position() <= projection_->position()) {
      Answer(routed->identity, request, /*stale=*/false);
    } else if (request.wait_ms() == 0 || waiting_.size() >= kMaxWaiting) {
      Answer(routed->identity, request, /*stale=*/true);
    } else {
      const milliseconds wait =
          std::min<milliseconds>(milliseconds(request.wait_ms()), options_.max_wait);
      Waiting waiting{.identity = zmq::message_t(),
                      .request = std::move(request),
                      .deadline = Clock::now() + wait};
      waiting.identity.copy(routed->identity);
      waiting_.push_back(std::move(waiting));
    }
  }
}

void QueryLoop::AnswerWaiting(bool expire_only) {
  const auto now = Clock::now();
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    const bool reached = !expire_only && it->request.min_position() <= projection_->position();
    if (reached || now >= it->deadline) {
      Answer(it->identity, it->request, /*stale=*/!reached);
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
}

void QueryLoop::Answer(const zmq::message_t& identity, const es::v1::QueryRequest& request,
                       bool stale) {
  ++queries_;
  es::v1::QueryReply reply;
  reply.set_request_id(request.request_id());
  reply.set_position(projection_->position());
  if (stale) {
    ++stale_answers_;
    reply.set_status(es::v1::QUERY_STATUS_STALE);
    router_.Send(identity, /*delimited=*/true, MessageOf(reply));
    return;
  }
  reply.set_status(es::v1::QUERY_STATUS_OK);
  try {
    switch (request.body_case()) {
      case es::v1::QueryRequest::kPing:
        reply.mutable_pong()->set_head_position(projection_->position());
        reply.mutable_pong()->set_service("query_service");
        reply.mutable_pong()->set_pid(static_cast<uint32_t>(::getpid()));
        break;
      case es::v1::QueryRequest::kStats:
        *reply.mutable_stats() = Stats();
        break;
      case es::v1::QueryRequest::kListAccounts:
        *reply.mutable_accounts() = projection_->ListAccounts(request.list_accounts());
        break;
      case es::v1::QueryRequest::kGetHistory:
        *reply.mutable_history() = projection_->History(request.get_history());
        break;
      case es::v1::QueryRequest::kListTransfers:
        *reply.mutable_transfers() = projection_->ListTransfers(request.list_transfers());
        break;
      case es::v1::QueryRequest::kGetTotals:
        *reply.mutable_totals() = projection_->Totals();
        break;
      case es::v1::QueryRequest::kRebuildProjections:
        *reply.mutable_rebuild() = rebuild_ ? RebuildProgress() : StartRebuild();
        break;
      default:
        reply = ErrorReply(request.request_id(), projection_->position(),
                           "the QueryRequest has no body");
        break;
    }
  } catch (const BadQuery& e) {
    reply = ErrorReply(request.request_id(), projection_->position(), e.what());
  }
  router_.Send(identity, /*delimited=*/true, MessageOf(reply));
}

es::v1::QueryServiceStats QueryLoop::Stats() const {
  es::v1::QueryServiceStats stats;
  const uint64_t position = projection_->position();
  const uint64_t head = std::max(subscriber_->known_head(), position);
  stats.set_position(position);
  stats.set_head_position(head);
  stats.set_lag(head - position);
  stats.set_events_applied(events_applied_);
  stats.set_events_ignored(events_ignored_);
  stats.set_transactions(transactions_);
  stats.set_queries(queries_);
  stats.set_stale_answers(stale_answers_);
  stats.set_queries_waiting(waiting_.size());
  stats.set_position_repairs(position_repairs_);
  stats.set_rss_bytes(ResidentSetBytes());
  *stats.mutable_rebuild() = RebuildProgress();
  return stats;
}

es::v1::RebuildStatus QueryLoop::StartRebuild() {
  // A rebuild interrupted by a stop or a crash left its file: start over.
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((RebuildPath() + suffix).c_str());
  rebuild_ = std::make_unique<Projection>(RebuildPath());
  es::bus::CatchUpOptions options{.store_requests = options_.store_requests,
                                  .store_events = options_.store_events,
                                  .from_position = 1};
  options.batched = true;
  options.name = "query_service-rebuild";
  rebuild_subscriber_ = std::make_unique<es::bus::CatchUpSubscriber>(context_, options);
  rebuild_started_ = Clock::now();
  Log("rebuilding the projection from position 1 in %s; queries are answered from the live one "
      "(at %llu) meanwhile",
      RebuildPath().c_str(), static_cast<unsigned long long>(projection_->position()));
  return RebuildProgress();
}

es::v1::RebuildStatus QueryLoop::RebuildProgress() const {
  es::v1::RebuildStatus status;
  status.set_running(rebuild_ != nullptr);
  status.set_rebuilds_completed(rebuilds_completed_);
  if (rebuild_) {
    status.set_position(rebuild_->position());
    status.set_target_position(std::max({subscriber_->known_head(),
                                         rebuild_subscriber_->known_head(),
                                         projection_->position()}));
    status.set_seconds(std::chrono::duration<double>(Clock::now() - rebuild_started_).count());
  } else {
    status.set_seconds(last_rebuild_seconds_);
  }
  return status;
}

void QueryLoop::ApplyRebuildSlice() {
  if (!rebuild_) return;
  // A slice per turn (the live projection and the queries come first), in
  // transactions as large as the live one's.
  const auto end = Clock::now() + milliseconds(40);
  bool drained = false;
  size_t taken = 0;
  while (Clock::now() < end) {
    if (!rebuild_subscriber_->Next(&record_, milliseconds(0))) {
      drained = true;
      break;
    }
    if (!rebuild_->in_transaction()) rebuild_->Begin();
    if (rebuild_->Apply(record_) == Projection::Applied::kNotNext) {
      throw std::runtime_error("the rebuild's subscriber skipped a position at " +
                               std::to_string(record_.global_position()));
    }
    if (++taken == options_.batch_events) {
      rebuild_->Commit();
      taken = 0;
    }
  }
  if (rebuild_->in_transaction()) rebuild_->Commit();
  // Caught up: as far as the live projection, with nothing more waiting.
  if (drained && rebuild_->position() >= projection_->position()) SwapInRebuild();
}

void QueryLoop::SwapInRebuild() {
  const uint64_t position = rebuild_->position();
  // Closing each connection checkpoints its WAL into the database file and
  // removes the WAL, so each projection is one file; the rename replaces
  // the live one atomically: a crash before it leaves the old projection,
  // after it the new one, each consistent at its own checkpoint.
  rebuild_subscriber_.reset();
  rebuild_.reset();
  subscriber_.reset();
  projection_.reset();
  if (std::rename(RebuildPath().c_str(), LivePath().c_str()) != 0) {
    throw std::runtime_error("cannot rename " + RebuildPath() + " to " + LivePath() + ": " +
                             std::strerror(errno));
  }
  projection_ = std::make_unique<Projection>(LivePath());
  NewSubscriber();
  last_rebuild_seconds_ = std::chrono::duration<double>(Clock::now() - rebuild_started_).count();
  ++rebuilds_completed_;
  Log("rebuilt the projection from position 1 to %llu in %.1f s (%.0f events/s); it is live",
      static_cast<unsigned long long>(position), last_rebuild_seconds_,
      last_rebuild_seconds_ > 0 ? static_cast<double>(position) / last_rebuild_seconds_ : 0.0);
}

}  // namespace es::query
