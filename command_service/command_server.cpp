#include "command_service/command_server.h"

#include <unistd.h>

#include "bus/poll.h"
#include "bus/process_stats.h"
#include "bus/router_frames.h"

namespace es::command {
namespace {

constexpr size_t kMaxRequestBytes = 1 << 20;

}  // namespace

CommandServer::CommandServer(zmq::context_t& context, CommandServerOptions options)
    : options_(std::move(options)),
      router_(context, options_.socket),
      store_(context, options_.store_requests,
             es::bus::AsyncChannel::Options{.attempt_timeout = std::chrono::milliseconds(1000),
                                            .deadline = options_.store_timeout}),
      processor_([this](es::v1::StoreRequest& request,
                        StoreReplyCallback reply) { store_.Call(request, std::move(reply)); },
                 options_.cache_capacity, options_.max_conflict_retries,
                 options_.snapshot_every) {
  // Throws zmq::error_t, as main expects of a bind it cannot do.
  router_.socket().bind(options_.bind);
}

std::string CommandServer::bound_endpoint() const { return router_.bound_endpoint(); }

std::string CommandServer::Admit(const std::string& peer, size_t bytes) {
  InFlight& mine = in_flight_[peer];
  std::string over;
  if (mine.requests >= options_.max_in_flight_per_peer) {
    over = std::to_string(mine.requests) + " requests of this client are in flight (the limit is " +
           std::to_string(options_.max_in_flight_per_peer) + ")";
  } else if (mine.bytes + bytes > options_.max_in_flight_bytes_per_peer) {
    over = "this client's requests in flight would hold " + std::to_string(mine.bytes + bytes) +
           " bytes (the limit is " + std::to_string(options_.max_in_flight_bytes_per_peer) + ")";
  } else if (in_flight_total_.requests >= options_.max_in_flight) {
    over = std::to_string(in_flight_total_.requests) +
           " requests are in flight (the limit is " + std::to_string(options_.max_in_flight) + ")";
  } else if (in_flight_total_.bytes + bytes > options_.max_in_flight_bytes) {
    over = "requests in flight would hold " + std::to_string(in_flight_total_.bytes + bytes) +
           " bytes (the limit is " + std::to_string(options_.max_in_flight_bytes) + ")";
  }
  if (!over.empty()) {
    if (mine.requests == 0) in_flight_.erase(peer);
    return over;
  }
  ++mine.requests;
  mine.bytes += bytes;
  ++in_flight_total_.requests;
  in_flight_total_.bytes += bytes;
  return "";
}

void CommandServer::Release(const std::string& peer, size_t bytes) {
  auto it = in_flight_.find(peer);
  if (it == in_flight_.end()) return;
  --in_flight_total_.requests;
  in_flight_total_.bytes -= bytes;
  if (--it->second.requests == 0) {
    in_flight_.erase(it);
  } else {
    it->second.bytes -= bytes;
  }
}

void CommandServer::ServeRequests() {
  // Bounded per turn, so replies from the store are not starved.
  for (int i = 0; i < 4096; ++i) {
    auto routed = router_.Receive(&malformed_);
    if (!routed) return;
    ++requests_;
    const bool delimited = routed->delimited;
    auto identity = std::make_shared<zmq::message_t>(std::move(routed->identity));
    auto send = [this, identity, delimited](uint64_t request_id, es::v1::CommandReply reply) {
      reply.set_request_id(request_id);
      const std::string body = reply.SerializeAsString();
      router_.Send(*identity, delimited, zmq::message_t(body.data(), body.size()));
    };
    auto fail = [&](const std::string& message) {
      es::v1::CommandReply reply;
      reply.mutable_error()->set_code(es::v1::ERROR_CODE_BAD_REQUEST);
      reply.mutable_error()->set_message(message);
      send(0, std::move(reply));
    };
    if (routed->frame_error) {
      fail(*routed->frame_error);
      continue;
    }
    if (routed->body.size() > kMaxRequestBytes) {
      es::v1::CommandReply reply;
      reply.mutable_error()->set_code(es::v1::ERROR_CODE_TOO_LARGE);
      reply.mutable_error()->set_message("request of " + std::to_string(routed->body.size()) +
                                         " bytes exceeds the limit of " +
                                         std::to_string(kMaxRequestBytes));
      send(0, std::move(reply));
      continue;
    }
    es::v1::CommandRequest request;
    if (!request.ParseFromArray(routed->body.data(), static_cast<int>(routed->body.size()))) {
      fail("the request is not a valid es.v1.CommandRequest");
      continue;
    }
    const uint64_t id = request.request_id();
    if (request.has_ping()) {
      es::v1::CommandReply reply;
      reply.mutable_pong()->set_service("command_service");
      reply.mutable_pong()->set_pid(static_cast<uint32_t>(::getpid()));
      send(id, std::move(reply));
      continue;
    }
    if (request.has_stats()) {
      es::v1::CommandReply reply;
      auto* stats = reply.mutable_stats();
      const auto& c = processor_.counters();
      stats->set_commands_total(c.commands);
      stats->set_commands_refused(c.refused);
      stats->set_concurrency_retries(c.conflicts);
      stats->set_cached_aggregates(processor_.cached_aggregates());
      stats->set_snapshots_written(c.snapshots_written);
      stats->set_snapshots_loaded(c.snapshots_loaded);
      stats->set_events_loaded(c.events_loaded);
      stats->set_command_lookups(c.command_lookups);
      stats->set_appends_sent(c.appends_sent);
      stats->set_append_requests(c.append_requests);
      stats->set_command_id_conflicts(c.id_conflicts);
      stats->set_stream_reads(c.stream_reads);
      stats->set_version_probes(c.version_probes);
      stats->set_probe_requests(c.probe_requests);
      es::bus::DescribeBounds(router_, stats->mutable_bounds());
      stats->set_requests_in_flight(in_flight_total_.requests);
      stats->set_requests_over_limit(over_limit_);
      stats->set_rss_bytes(es::bus::ResidentBytes());
      rate_.Observe(c.commands);
      stats->set_commands_per_s(rate_.per_second());
      send(id, std::move(reply));
      continue;
    }
    // Counted until answered: the reply releases it.
    std::string peer = identity->to_string();
    const size_t bytes = routed->body.size();
    if (std::string over = Admit(peer, bytes); !over.empty()) {
      ++over_limit_;
      es::v1::CommandReply reply;
      reply.mutable_error()->set_code(es::v1::ERROR_CODE_UNAVAILABLE);
      reply.mutable_error()->set_message(over + "; nothing was done: retry when earlier replies "
                                                "have come back");
      send(id, std::move(reply));
      continue;
    }
    processor_.Handle(std::move(request), [this, send, id, peer = std::move(peer),
                                           bytes](es::v1::CommandReply reply) {
      Release(peer, bytes);
      send(id, std::move(reply));
    });
  }
}

void CommandServer::Run(const std::atomic<bool>& stop) {
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> drain_until;
  while (true) {
    if (stop && !drain_until) drain_until = Clock::now() + options_.drain_timeout;
    const bool idle = store_.in_flight() == 0 && !processor_.has_deferred();
    if (drain_until && (idle || Clock::now() >= *drain_until)) {
      router_.Flush();  // what is still held goes out with the socket's linger
      return;
    }
    rate_.Observe(processor_.counters().commands);
    zmq::pollitem_t items[] = {
        {router_.socket().handle(), 0, ZMQ_POLLIN, 0},
        {static_cast<void*>(store_.socket()), 0, ZMQ_POLLIN, 0},
    };
    std::chrono::milliseconds timeout(processor_.has_deferred() ? 0 : 50);
    if (router_.has_held()) timeout = std::min(timeout, es::bus::RouterSocket::HeldPollTimeout());
    es::bus::PollOnce(items, 2, timeout);
    if (items[1].revents & ZMQ_POLLIN) store_.DispatchReplies();
    router_.Flush();
    // While draining, new requests wait in the socket: a client retries them
    // against the restarted service.
    if (!drain_until && (items[0].revents & ZMQ_POLLIN)) ServeRequests();
    processor_.RunDeferred();
    processor_.FlushStoreRequests();
    store_.Tick();
  }
}

}  // namespace es::command
