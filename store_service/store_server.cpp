#include "store_service/store_server.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <fstream>

#include "store_service/live_event.h"
#include "store_service/live_topics.h"
#include "store_service/log_line.h"

namespace es::store {
namespace {

using SteadyClock = std::chrono::steady_clock;

// The most streams one stream_versions request may ask for (store.proto).
constexpr int kMaxStreamVersions = 10'000;

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Resident set size, from /proc/self/statm (0 when unavailable).
uint64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t total_pages = 0;
  uint64_t resident_pages = 0;
  if (!(statm >> total_pages >> resident_pages)) return 0;
  return resident_pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// Sends the two frames of one PUB message. PUB never blocks: a subscriber
// past its high-water mark misses messages and repairs from the store.
// `message` serialized straight into a message the socket can take over.
zmq::message_t SerializedMessage(const google::protobuf::MessageLite& message) {
  zmq::message_t body(message.ByteSizeLong());
  message.SerializeWithCachedSizesToArray(static_cast<uint8_t*>(body.data()));
  return body;
}

void PublishFrames(zmq::socket_t& publisher, std::string_view topic, zmq::message_t body) {
  publisher.send(zmq::const_buffer(topic.data(), topic.size()),
                 zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  publisher.send(body, zmq::send_flags::dontwait);
}

}  // namespace

class StoreServer::SocketOutput final : public StoreOutput {
 public:
  SocketOutput(bus::RouterSocket& router, zmq::socket_t& publisher)
      : router_(router), publisher_(publisher) {}
  void Reply(const zmq::message_t& identity, bool delimited, zmq::message_t body) override {
    router_.Send(identity, delimited, std::move(body));
  }
  void Publish(std::string_view topic, zmq::message_t body) override {
    PublishFrames(publisher_, topic, std::move(body));
  }

 private:
  bus::RouterSocket& router_;
  zmq::socket_t& publisher_;
};

namespace {

// The request socket's limits, with the frame limit the server's own.
bus::ServerSocketOptions SocketOptionsFor(const StoreServerOptions& options) {
  bus::ServerSocketOptions socket = options.socket;
  // Frames up to 4x the message limit are read and refused (TOO_LARGE);
  // bigger ones disconnect the peer before they are held in memory.
  socket.max_frame_bytes = options.max_message_bytes * 4;
  return socket;
}

}  // namespace

StoreServer::StoreServer(zmq::context_t& context, EventStorage& storage, StoreServerOptions options)
    : storage_(storage),
      options_(std::move(options)),
      router_(std::make_unique<bus::RouterSocket>(context, SocketOptionsFor(options_))),
      publisher_(context, zmq::socket_type::xpub),
      socket_output_(std::make_unique<SocketOutput>(*router_, publisher_)),
      output_(socket_output_.get()),
      last_recorded_at_us_(LastStoredRecordedAt()),
      throughput_(SteadyClock::now()) {}

StoreServer::StoreServer(EventStorage& storage, StoreServerOptions options, StoreOutput& output)
    : storage_(storage),
      options_(std::move(options)),
      output_(&output),
      last_recorded_at_us_(LastStoredRecordedAt()),
      throughput_(SteadyClock::now()) {}

StoreServer::~StoreServer() { Close(); }

int64_t StoreServer::LastStoredRecordedAt() {
  const uint64_t head = storage_.Head();
  if (head == 0) return 0;
  es::v1::ReadAllResult last;
  if (!storage_.ReadAll(head, "", ReadLimits{.max_count = 1}, &last).ok() ||
      last.events().empty()) {
    return 0;
  }
  return last.events(0).recorded_at_us();
}

Status StoreServer::Bind() {
  // The request socket's limits are the RouterSocket's (bus/server_socket.h):
  // a burst of replies past its queue waits in the server, a peer that
  // does not read is stalled.
  //
  // Per subscriber: what the store queues for one that does not read. An
  // event is ~300 bytes queued, so 10,000 messages bound a stalled
  // subscriber to ~3 MB of single events, or ~50 MB of 16-event batches;
  // past it, it misses messages and repairs from the store
  // (tests/fault_slow_listener_test.cpp). Deep enough that a live listener
  // that falls behind for a moment under a 200k events/s burst (the saga)
  // does not have to repair.
  publisher_.set(zmq::sockopt::sndhwm, 10'000);
  publisher_.set(zmq::sockopt::linger, 0);
  // XPUB rather than PUB only to count subscribers: verboser passes every
  // subscribe and unsubscribe (also the implicit ones on disconnect).
  publisher_.set(zmq::sockopt::xpub_verboser, 1);
  if (std::string error = router_->Bind(options_.requests_endpoint); !error.empty()) {
    return Status(es::v1::ERROR_CODE_UNAVAILABLE, error);
  }
  bound_requests_endpoint_ = router_->bound_endpoint();
  try {
    publisher_.bind(options_.events_endpoint);
  } catch (const zmq::error_t& e) {
    return Status(es::v1::ERROR_CODE_UNAVAILABLE,
                  "cannot bind " + options_.events_endpoint + ": " + e.what());
  }
  bound_events_endpoint_ = publisher_.get(zmq::sockopt::last_endpoint);
  return Status::Ok();
}

void StoreServer::Run(const std::atomic<bool>& stop_requested) {
  SteadyClock::time_point next_heartbeat = SteadyClock::now();
  while (!stop_requested.load(std::memory_order_relaxed)) {
    SteadyClock::time_point now = SteadyClock::now();
    if (now >= next_heartbeat) {
      PublishHeartbeat();
      next_heartbeat = now + options_.heartbeat_interval;
    }
    router_->Flush();
    const int completion_fd = storage_.CompletionFd();
    // Past the pending-append budget, requests wait in their sockets (and
    // then in TCP) until the storage has caught up.
    const short request_events =
        pending_append_bytes_ < options_.max_pending_append_bytes ? ZMQ_POLLIN : 0;
    std::array<zmq::pollitem_t, 3> items{{{router_->socket().handle(), 0, request_events, 0},
                                          {publisher_.handle(), 0, ZMQ_POLLIN, 0},
                                          {nullptr, completion_fd, ZMQ_POLLIN, 0}}};
    const size_t item_count = completion_fd >= 0 ? 3 : 2;
    auto timeout = std::chrono::ceil<std::chrono::milliseconds>(next_heartbeat - now);
    if (router_->has_held()) timeout = std::min(timeout, bus::RouterSocket::HeldPollTimeout());
    try {
      zmq::poll(items.data(), item_count, timeout);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;  // a signal: look at stop_requested again
      throw;
    }
    // Replies first: they free clients to send the next requests.
    if (items[2].revents & ZMQ_POLLIN) CompleteSubmittedBatches();
    if (items[1].revents & ZMQ_POLLIN) ReadSubscriptions();
    if (items[0].revents & ZMQ_POLLIN) ServeWaitingRequests();
  }
  FinishSubmittedBatches();
  RefuseWaitingRequests();
  router_->Flush();
  Close();
}

void StoreServer::FinishSubmittedBatches() {
  while (!submitted_.empty()) {
    CompleteSubmittedBatches();
    if (submitted_.empty()) break;
    zmq::pollitem_t item{nullptr, storage_.CompletionFd(), ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
    }
  }
}

void StoreServer::ServeRequests(std::span<bus::RoutedRequest> requests) {
  SubmittedBatch batch;
  batch.arena = TakeArena();
  for (bus::RoutedRequest& routed : requests) HandleRequest(routed, &batch);
  if (batch.appends.empty()) {
    ReturnArena(std::move(batch.arena));
  } else {
    SubmitAppends(std::move(batch));
  }
}

void StoreServer::ServeWaitingRequests() {
  SubmittedBatch batch;
  batch.arena = TakeArena();
  for (size_t served = 0; served < options_.max_requests_per_drain &&
                          pending_append_bytes_ + batch.bytes < options_.max_pending_append_bytes;) {
    std::optional<bus::RoutedRequest> routed = router_->Receive(&frames_dropped_);
    if (!routed) break;  // nothing more waiting
    const size_t queued_before = batch.requests.size();
    HandleRequest(*routed, &batch);
    served += std::max<size_t>(1, batch.requests.size() - queued_before);
  }
  if (batch.appends.empty()) {
    ReturnArena(std::move(batch.arena));
  } else {
    SubmitAppends(std::move(batch));
  }
}

std::unique_ptr<google::protobuf::Arena> StoreServer::TakeArena() {
  if (!spare_arenas_.empty()) {
    std::unique_ptr<google::protobuf::Arena> arena = std::move(spare_arenas_.back());
    spare_arenas_.pop_back();
    return arena;
  }
  google::protobuf::ArenaOptions options;
  options.start_block_size = 64 * 1024;
  options.max_block_size = 1024 * 1024;
  return std::make_unique<google::protobuf::Arena>(options);
}

void StoreServer::ReturnArena(std::unique_ptr<google::protobuf::Arena> arena) {
  arena->Reset();
  if (spare_arenas_.size() < 8) spare_arenas_.push_back(std::move(arena));
}

void StoreServer::RefuseWaitingRequests() {
  for (size_t refused = 0; refused < options_.max_requests_per_drain; ++refused) {
    std::optional<bus::RoutedRequest> routed = router_->Receive(&frames_dropped_);
    if (!routed) break;
    es::v1::StoreRequest request;
    uint64_t request_id = 0;
    if (!routed->frame_error && request.ParseFromArray(routed->body.data(), routed->body.size())) {
      request_id = request.request_id();
    }
    ReplyError(routed->identity, request_id, es::v1::ERROR_CODE_UNAVAILABLE,
               "the store is shutting down", routed->delimited);
  }
}

void StoreServer::HandleRequest(bus::RoutedRequest& routed, SubmittedBatch* batch) {
  if (routed.frame_error) {
    ReplyError(routed.identity, 0, es::v1::ERROR_CODE_BAD_REQUEST, *routed.frame_error,
               routed.delimited);
    return;
  }
  if (routed.body.size() > options_.max_message_bytes) {
    ReplyError(routed.identity, 0, es::v1::ERROR_CODE_TOO_LARGE,
               "request is " + std::to_string(routed.body.size()) + " bytes, the limit is " +
                   std::to_string(options_.max_message_bytes));
    return;
  }
  es::v1::StoreRequest& request =
      *google::protobuf::Arena::CreateMessage<es::v1::StoreRequest>(batch->arena.get());
  if (!request.ParseFromArray(routed.body.data(), static_cast<int>(routed.body.size()))) {
    ReplyError(routed.identity, 0, es::v1::ERROR_CODE_BAD_REQUEST,
               "cannot decode a StoreRequest from the " + std::to_string(routed.body.size()) +
                   "-byte body frame");
    return;
  }
  es::v1::StoreReply reply;
  reply.set_request_id(request.request_id());
  switch (request.body_case()) {
    case es::v1::StoreRequest::kAppend:
    case es::v1::StoreRequest::kAppendMany:
      QueueAppends(routed, request, batch);
      return;
    case es::v1::StoreRequest::kReadStream: {
      const es::v1::ReadStreamRequest& read = request.read_stream();
      if (read.stream_id().empty()) {
        ReplyError(routed.identity, request.request_id(), es::v1::ERROR_CODE_BAD_REQUEST,
                   "read_stream.stream_id is empty");
        return;
      }
      const ReadLimits limits = ReadLimitsFor(read.max_count());
      uint64_t from_version = read.from_version();
      if (read.from_end()) {
        const uint64_t version = storage_.StreamVersion(read.stream_id());
        from_version = version > limits.max_count ? version - limits.max_count + 1 : 1;
      }
      Status status =
          storage_.ReadStream(read.stream_id(), from_version, limits, reply.mutable_read_stream());
      if (!status.ok()) {
        ReplyError(routed.identity, request.request_id(), status.code(), status.message());
        return;
      }
      break;
    }
    case es::v1::StoreRequest::kReadAll: {
      const es::v1::ReadAllRequest& read = request.read_all();
      Status status = storage_.ReadAll(read.from_position(), read.stream_prefix(),
                                       ReadLimitsFor(read.max_count()), reply.mutable_read_all());
      if (!status.ok()) {
        ReplyError(routed.identity, request.request_id(), status.code(), status.message());
        return;
      }
      break;
    }
    case es::v1::StoreRequest::kPing:
      reply.mutable_pong()->set_head_position(storage_.Head());
      reply.mutable_pong()->set_service("store_service");
      reply.mutable_pong()->set_pid(static_cast<uint32_t>(::getpid()));
      break;
    case es::v1::StoreRequest::kStats:
      *reply.mutable_stats() = Stats();
      break;
    case es::v1::StoreRequest::kReportCheckpoint: {
      const auto& report = request.report_checkpoint();
      std::string error = listeners_.Report(report.subscriber(), report.position(),
                                            storage_.Head(), SteadyClock::now());
      if (!error.empty()) {
        ReplyError(routed.identity, request.request_id(), es::v1::ERROR_CODE_BAD_REQUEST, error);
        return;
      }
      reply.mutable_checkpoint_noted();
      break;
    }
    case es::v1::StoreRequest::kFindCommand: {
      const std::string& command_id = request.find_command().command_id();
      if (command_id.empty()) {
        ReplyError(routed.identity, request.request_id(), es::v1::ERROR_CODE_BAD_REQUEST,
                   "find_command.command_id is empty");
        return;
      }
      es::v1::FindCommandResult* found = reply.mutable_find_command();
      std::optional<es::v1::AppendResult> append = storage_.FindCommand(command_id);
      if (!append) break;
      const uint64_t count = append->last_version() - append->first_version() + 1;
      ReadLimits limits = ReadLimitsFor(static_cast<uint32_t>(count));
      es::v1::ReadStreamResult events;
      Status status =
          storage_.ReadStream(append->stream_id(), append->first_version(), limits, &events);
      if (!status.ok()) {
        ReplyError(routed.identity, request.request_id(), status.code(), status.message());
        return;
      }
      found->set_found(true);
      *found->mutable_append() = std::move(*append);
      for (auto& event : *events.mutable_events()) {
        if (event.stream_version() > found->append().last_version()) break;
        *found->add_events() = std::move(event);
      }
      break;
    }
    case es::v1::StoreRequest::kStreamVersions: {
      const auto& ids = request.stream_versions().stream_ids();
      if (ids.size() > kMaxStreamVersions) {
        ReplyError(routed.identity, request.request_id(), es::v1::ERROR_CODE_TOO_LARGE,
                   "stream_versions asks for " + std::to_string(ids.size()) +
                       " streams, the limit is " + std::to_string(kMaxStreamVersions));
        return;
      }
      es::v1::StreamVersionsResult* versions = reply.mutable_stream_versions();
      versions->mutable_versions()->Reserve(ids.size());
      for (const std::string& id : ids) versions->add_versions(storage_.StreamVersion(id));
      versions->set_head_position(storage_.Head());
      break;
    }
    case es::v1::StoreRequest::kListStreams: {
      const es::v1::ListStreamsRequest& list = request.list_streams();
      storage_.ListStreams(list.prefix(), list.after(), ReadLimitsFor(list.max_count()).max_count,
                           reply.mutable_list_streams());
      break;
    }
    case es::v1::StoreRequest::BODY_NOT_SET:
      // Also what a body from a newer schema (an unknown field) parses to.
      ReplyError(routed.identity, request.request_id(), es::v1::ERROR_CODE_BAD_REQUEST,
                 "StoreRequest has no known body: set one of append, append_many, read_stream, "
                 "read_all, ping, stats, report_checkpoint, find_command, stream_versions, "
                 "list_streams");
      return;
  }
  Reply(routed.identity, reply);
}

void StoreServer::QueueAppends(bus::RoutedRequest& routed, const es::v1::StoreRequest& request,
                               SubmittedBatch* batch) {
  const size_t first = batch->requests.size();
  if (request.has_append()) {
    batch->requests.push_back(&request.append());
  } else {
    const auto& appends = request.append_many().appends();
    if (appends.empty()) {
      ReplyError(routed.identity, request.request_id(), es::v1::ERROR_CODE_BAD_REQUEST,
                 "append_many.appends is empty");
      return;
    }
    if (static_cast<size_t>(appends.size()) > options_.max_appends_per_request) {
      ReplyError(routed.identity, request.request_id(), es::v1::ERROR_CODE_TOO_LARGE,
                 "append_many carries " + std::to_string(appends.size()) +
                     " appends, the limit is " + std::to_string(options_.max_appends_per_request));
      return;
    }
    for (const es::v1::AppendRequest& append : appends) batch->requests.push_back(&append);
  }
  batch->bytes += routed.body.size();
  batch->appends.push_back(PendingAppend{std::move(routed.identity), &request, first});
}

void StoreServer::SubmitAppends(SubmittedBatch submitted) {
  SubmittedBatch& batch = submitted_.emplace_back(std::move(submitted));
  last_recorded_at_us_ = std::max(NowMicros(), last_recorded_at_us_);
  batch.recorded_at_us = last_recorded_at_us_;
  pending_append_bytes_ += batch.bytes;
  storage_.Submit(batch.requests, batch.recorded_at_us);
  // An engine without a sync thread has completed it already.
  if (storage_.CompletionFd() < 0) CompleteSubmittedBatches();
}

void StoreServer::CompleteSubmittedBatches() {
  while (!submitted_.empty()) {
    std::optional<std::vector<AppendOutcome>> outcomes = storage_.TakeCompleted();
    if (!outcomes) return;
    AnswerAndPublish(submitted_.front(), *outcomes);
    pending_append_bytes_ -= submitted_.front().bytes;
    std::unique_ptr<google::protobuf::Arena> arena = std::move(submitted_.front().arena);
    submitted_.pop_front();  // before the arena its requests live on goes
    ReturnArena(std::move(arena));
  }
}

void StoreServer::AnswerAndPublish(const SubmittedBatch& batch,
                                   const std::vector<AppendOutcome>& outcomes) {
  // The transaction is durable now: acknowledge every append first...
  uint64_t appends_written = 0;
  uint64_t events_written = 0;
  // Tallies one outcome; true when it is a success.
  auto tally = [&](size_t i) {
    const AppendOutcome& outcome = outcomes[i];
    if (!outcome.status.ok()) {
      if (outcome.status.code() == es::v1::ERROR_CODE_STORAGE_FULL ||
          outcome.status.code() == es::v1::ERROR_CODE_STORAGE_FAILURE) {
        LogLine("append refused: " + outcome.status.ToString());
      }
      ++requests_refused_;
      return false;
    }
    if (!outcome.result.duplicate()) {
      ++appends_written;
      events_written += static_cast<uint64_t>(batch.requests[i]->events_size());
    }
    return true;
  };
  auto fill_error = [](const AppendOutcome& outcome, es::v1::Error* error) {
    error->set_code(outcome.status.code());
    error->set_message(outcome.status.message());
    error->set_current_version(outcome.current_version);
  };
  for (const PendingAppend& pending : batch.appends) {
    const uint64_t request_id = pending.request->request_id();
    if (pending.request->has_append()) {
      const AppendOutcome& outcome = outcomes[pending.first];
      if (!tally(pending.first)) {
        es::v1::StoreReply reply;
        reply.set_request_id(request_id);
        fill_error(outcome, reply.mutable_error());
        Reply(pending.identity, reply);
        continue;
      }
      append_reply_.set_request_id(request_id);
      *append_reply_.mutable_append() = outcome.result;
      Reply(pending.identity, append_reply_);
      continue;
    }
    // An append_many: one result per append, in its order. The reused
    // reply keeps its items (and their strings) from one answer to the next.
    append_many_reply_.set_request_id(request_id);
    auto* results = append_many_reply_.mutable_append_many()->mutable_results();
    results->Clear();
    const size_t count = static_cast<size_t>(pending.request->append_many().appends_size());
    for (size_t i = pending.first; i < pending.first + count; ++i) {
      es::v1::AppendManyItem* item = results->Add();
      if (tally(i)) {
        *item->mutable_append() = outcomes[i].result;
      } else {
        fill_error(outcomes[i], item->mutable_error());
      }
    }
    Reply(pending.identity, append_many_reply_);
  }
  if (appends_written == 0) return;
  ++commits_total_;
  appends_total_ += appends_written;
  events_appended_total_ += events_written;
  throughput_.Add(SteadyClock::now(), appends_written, events_written);

  // ...then publish, in the kinds someone subscribes to. Storage placed the
  // batch in batch order, so this is global-position order.
  const bool events = listeners_.wants_events();
  const bool batches = listeners_.wants_batches();
  if (!events && !batches) return;
  std::vector<CommittedEvent>& pending = publish_scratch_;
  pending.clear();
  for (size_t i = 0; i < batch.requests.size(); ++i) {
    const AppendOutcome& outcome = outcomes[i];
    if (!outcome.status.ok() || outcome.result.duplicate()) continue;
    const es::v1::AppendRequest& request = *batch.requests[i];
    for (int e = 0; e < request.events_size(); ++e) {
      const CommittedEvent event{&request, e, &outcome.result, batch.recorded_at_us};
      if (events) output_->Publish(request.stream_id(), EncodeLiveEvent(event));
      if (!batches) continue;
      pending.push_back(event);
      if (pending.size() == kBatchEvents) {
        output_->Publish(kBatchTopic, EncodeLiveBatch(pending));
        pending.clear();
      }
    }
  }
  if (batches && !pending.empty()) output_->Publish(kBatchTopic, EncodeLiveBatch(pending));
}

void StoreServer::PublishHeartbeat() {
  es::v1::LiveMessage message;
  message.mutable_heartbeat()->set_head_position(storage_.Head());
  message.mutable_heartbeat()->set_sent_at_us(NowMicros());
  output_->Publish(kHeartbeatTopic, SerializedMessage(message));
}

void StoreServer::Reply(const zmq::message_t& identity, const es::v1::StoreReply& reply,
                        bool delimited) {
  output_->Reply(identity, delimited, SerializedMessage(reply));
}

void StoreServer::ReplyError(const zmq::message_t& identity, uint64_t request_id,
                             es::v1::ErrorCode code, const std::string& message, bool delimited) {
  ++requests_refused_;
  es::v1::StoreReply reply;
  reply.set_request_id(request_id);
  reply.mutable_error()->set_code(code);
  reply.mutable_error()->set_message(message);
  Reply(identity, reply, delimited);
}

ReadLimits StoreServer::ReadLimitsFor(uint32_t requested_count) const {
  ReadLimits limits;
  limits.max_count = requested_count == 0 ? options_.default_read_count
                                          : std::min(requested_count, options_.max_read_count);
  // A reply must fit in what a client accepts as one message, and be small
  // enough that what a peer can have queued stays small.
  limits.max_bytes = std::min(options_.max_message_bytes, options_.max_read_reply_bytes);
  return limits;
}

es::v1::StoreStats StoreServer::Stats() {
  es::v1::StoreStats stats;
  stats.set_head_position(storage_.Head());
  stats.set_stream_count(storage_.StreamCount());
  stats.set_appends_total(appends_total_);
  stats.set_events_appended_total(events_appended_total_);
  ThroughputWindow::Rates rates = throughput_.RatesAt(SteadyClock::now());
  stats.set_appends_per_s(rates.appends_per_s);
  stats.set_events_per_s(rates.events_per_s);
  stats.set_commits_total(commits_total_);
  stats.set_engine(std::string(storage_.EngineName()));
  stats.set_rss_bytes(ResidentBytes());
  stats.set_requests_refused(requests_refused_ + frames_dropped_);
  stats.set_subscribers(listeners_.connected());
  listeners_.Describe(storage_.Head(), SteadyClock::now(), &stats);
  if (router_) bus::DescribeBounds(*router_, stats.mutable_bounds());
  stats.set_pending_append_bytes(pending_append_bytes_);
  return stats;
}

void StoreServer::ReadSubscriptions() {
  for (int i = 0; i < 1000; ++i) {
    zmq::message_t message;
    if (!publisher_.recv(message, zmq::recv_flags::dontwait)) return;
    listeners_.OnSubscriptionMessage(message.to_string_view());
  }
}

void StoreServer::Close() {
  if (router_) router_->Close();
  if (publisher_.handle() != nullptr) publisher_.close();
}

}  // namespace es::store
