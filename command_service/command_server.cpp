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
      router_(context, zmq::socket_type::router),
      store_(context, options_.store_requests,
             es::bus::AsyncChannel::Options{.attempt_timeout = std::chrono::milliseconds(1000),
                                            .deadline = options_.store_timeout}),
      processor_([this](es::v1::StoreRequest& request,
                        StoreReplyCallback reply) { store_.Call(request, std::move(reply)); },
                 options_.cache_capacity, options_.max_conflict_retries,
                 options_.snapshot_every) {
  router_.set(zmq::sockopt::linger, 1000);
  router_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(4 * kMaxRequestBytes));
  router_.set(zmq::sockopt::sndhwm, 0);
  router_.set(zmq::sockopt::rcvhwm, 0);
  router_.bind(options_.bind);
}

std::string CommandServer::bound_endpoint() const {
  return router_.get(zmq::sockopt::last_endpoint);
}

void CommandServer::ServeRequests() {
  // Bounded per turn, so replies from the store are not starved.
  for (int i = 0; i < 4096; ++i) {
    auto routed = es::bus::ReceiveRouted(router_, &malformed_);
    if (!routed) return;
    ++requests_;
    auto identity = std::make_shared<zmq::message_t>(std::move(routed->identity));
    auto send = [this, identity](uint64_t request_id, es::v1::CommandReply reply) {
      reply.set_request_id(request_id);
      es::bus::SendRouted(router_, *identity, reply.SerializeAsString());
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
      stats->set_rss_bytes(es::bus::ResidentBytes());
      rate_.Observe(c.commands);
      stats->set_commands_per_s(rate_.per_second());
      send(id, std::move(reply));
      continue;
    }
    processor_.Handle(std::move(request),
                      [send, id](es::v1::CommandReply reply) { send(id, std::move(reply)); });
  }
}

void CommandServer::Run(const std::atomic<bool>& stop) {
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> drain_until;
  while (true) {
    if (stop && !drain_until) drain_until = Clock::now() + options_.drain_timeout;
    const bool idle = store_.in_flight() == 0 && !processor_.has_deferred();
    if (drain_until && (idle || Clock::now() >= *drain_until)) return;
    rate_.Observe(processor_.counters().commands);
    zmq::pollitem_t items[] = {
        {static_cast<void*>(router_), 0, ZMQ_POLLIN, 0},
        {static_cast<void*>(store_.socket()), 0, ZMQ_POLLIN, 0},
    };
    es::bus::PollOnce(items, 2, std::chrono::milliseconds(processor_.has_deferred() ? 0 : 50));
    if (items[1].revents & ZMQ_POLLIN) store_.DispatchReplies();
    // While draining, new requests wait in the socket: a client retries them
    // against the restarted service.
    if (!drain_until && (items[0].revents & ZMQ_POLLIN)) ServeRequests();
    processor_.RunDeferred();
    processor_.FlushStoreRequests();
    store_.Tick();
  }
}

}  // namespace es::command
