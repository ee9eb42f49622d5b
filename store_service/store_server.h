// The store's request loop: a ROUTER socket for requests (StoreRequest ->
// StoreReply, framing in es/v1/store.proto), a PUB socket for committed
// events and heartbeats. One thread runs the loop and owns the sockets and
// the storage's indexes, so the global order is the order of submission
// (the log engine's own writer thread only writes and syncs its files).
//
// Each turn drains up to max_requests_per_drain waiting requests without
// blocking (an append_many counts as the appends it carries). Reads, pings and stats are answered
// at once, from committed (durable) data only. The drained appends form one batch, submitted to the
// storage (EventStorage::Submit): one transaction, one fsync (group commit). An engine that syncs
// on a thread of its own (the log engine) lets the loop go on receiving, validating and submitting
// the next batches while earlier ones are being synced; batches it submits while one is syncing
// share the next fsync. When a batch completes (the storage's completion descriptor wakes the
// loop), every append's reply is sent, and then its events are published in global-position order
// as [topic = stream id][LiveMessage{event}]. Batches complete in submission order, so an event is
// never visible, to a reply or a subscriber, before it is durable, and publication follows the
// global order.
//
// Replies to requests drained together may leave in a different order
// than the requests came (reads first, then appends): a client matches
// them by request_id, and reads its own write only after the ack.
#pragma once

#include <google/protobuf/arena.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>
#include <zmq.hpp>

#include "bus/router_frames.h"
#include "bus/server_socket.h"
#include "es/v1/store.pb.h"
#include "store_service/event_storage.h"
#include "store_service/listener_registry.h"
#include "store_service/live_event.h"
#include "store_service/status.h"
#include "store_service/throughput_window.h"

namespace es::store {

struct StoreServerOptions {
  std::string requests_endpoint;  // e.g. tcp://127.0.0.1:* (bound)
  std::string events_endpoint;
  std::chrono::milliseconds heartbeat_interval{100};
  // A request body larger than this is refused with TOO_LARGE. Frames over
  // 4x this are cut off by the socket itself (the peer is disconnected), so
  // a giant frame cannot exhaust memory.
  size_t max_message_bytes = size_t{4} << 20;
  size_t max_requests_per_drain = 4096;
  // The most appends one append_many may carry; more is TOO_LARGE.
  size_t max_appends_per_request = 10'000;
  // Reads: a request's max_count of 0 means default_read_count; larger
  // counts are capped at max_read_count.
  uint32_t default_read_count = 1000;
  uint32_t max_read_count = 10'000;
  // A read's reply holds at most this many bytes of events (at least one
  // event, whatever its size): what a peer that does not read can have
  // queued is send_hwm replies of about this size.
  size_t max_read_reply_bytes = size_t{256} << 10;
  // Appends received but not yet durable and answered: past this the store
  // stops reading requests until the storage catches up (TCP pushes back
  // on the writers), so a flood of appends cannot outgrow memory.
  size_t max_pending_append_bytes = size_t{128} << 20;
  // The request socket's limits (bus/server_socket.h); max_frame_bytes is
  // set from max_message_bytes.
  bus::ServerSocketOptions socket;
};

// Where the request handling's output goes: the server's own sockets, or,
// for a harness that drives the handling without sockets (the fuzz target
// tests/fuzz/store_requests_fuzz.cpp), whatever it captures them with.
class StoreOutput {
 public:
  virtual ~StoreOutput() = default;
  // A reply to the peer `identity`, with the empty delimiter frame before
  // it if `delimited` (as its request had).
  virtual void Reply(const zmq::message_t& identity, bool delimited, zmq::message_t body) = 0;
  // A published message [topic][body].
  virtual void Publish(std::string_view topic, zmq::message_t body) = 0;
};

class StoreServer {
 public:
  // `context` and `storage` (already open) must outlive the server.
  StoreServer(zmq::context_t& context, EventStorage& storage, StoreServerOptions options);
  // Without sockets (no Bind, no Run): requests are handed in with
  // ServeRequests, and replies and published messages go to `output`,
  // which must outlive the server.
  StoreServer(EventStorage& storage, StoreServerOptions options, StoreOutput& output);
  ~StoreServer();

  StoreServer(const StoreServer&) = delete;
  StoreServer& operator=(const StoreServer&) = delete;

  // Binds both sockets. On failure returns UNAVAILABLE naming the endpoint.
  Status Bind();

  // The endpoints actually bound (a wildcard port resolved), after Bind.
  const std::string& requests_endpoint() const { return bound_requests_endpoint_; }
  const std::string& events_endpoint() const { return bound_events_endpoint_; }

  // Serves until `stop_requested` becomes true (checked at least every
  // heartbeat interval). The batch in hand is committed, answered and
  // published; requests still waiting are refused with UNAVAILABLE; then
  // the sockets are closed.
  void Run(const std::atomic<bool>& stop_requested);

  // One turn of the loop over `requests`, as if drained from the socket:
  // reads and pings answered at once, appends submitted as one batch.
  // CompleteSubmittedBatches answers and publishes what has completed;
  // FinishSubmittedBatches waits for every submitted batch first.
  void ServeRequests(std::span<bus::RoutedRequest> requests);
  void CompleteSubmittedBatches();
  void FinishSubmittedBatches();
  // A subscription message as the XPUB socket passes it on.
  void NoteSubscription(std::string_view message) { listeners_.OnSubscriptionMessage(message); }

 private:
  class SocketOutput;
  // An append or append_many request drained in this turn, waiting for the
  // group commit.
  struct PendingAppend {
    zmq::message_t identity;
    const es::v1::StoreRequest* request;  // on the batch's arena
    size_t first;                         // its first append in the batch's `requests`
  };
  // The appends of one turn: a batch submitted to the storage, waiting for
  // its outcomes. The turn's requests are parsed onto its arena, which
  // lives until the batch is answered.
  struct SubmittedBatch {
    std::unique_ptr<google::protobuf::Arena> arena;
    std::vector<PendingAppend> appends;
    // Every append of `appends`, in order (an append_many's all in a row).
    std::vector<const es::v1::AppendRequest*> requests;
    int64_t recorded_at_us = 0;
    size_t bytes = 0;  // the request bodies' sizes
  };

  void ServeWaitingRequests();
  // The stored recorded_at of the log's last event (0 for an empty log).
  int64_t LastStoredRecordedAt();
  void RefuseWaitingRequests();
  void HandleRequest(bus::RoutedRequest& routed, SubmittedBatch* batch);
  // Queues an append or append_many request into `batch`, or answers an
  // append_many that is refused whole (empty, or too many appends).
  void QueueAppends(bus::RoutedRequest& routed, const es::v1::StoreRequest& request,
                    SubmittedBatch* batch);
  void SubmitAppends(SubmittedBatch batch);
  std::unique_ptr<google::protobuf::Arena> TakeArena();
  void ReturnArena(std::unique_ptr<google::protobuf::Arena> arena);
  void AnswerAndPublish(const SubmittedBatch& batch, const std::vector<AppendOutcome>& outcomes);
  void PublishHeartbeat();
  void Reply(const zmq::message_t& identity, const es::v1::StoreReply& reply,
             bool delimited = true);
  void ReplyError(const zmq::message_t& identity, uint64_t request_id, es::v1::ErrorCode code,
                  const std::string& message, bool delimited = true);
  ReadLimits ReadLimitsFor(uint32_t requested_count) const;
  es::v1::StoreStats Stats();
  void Close();
  // Reads the XPUB socket's subscription messages (subscriber count).
  void ReadSubscriptions();

  EventStorage& storage_;
  StoreServerOptions options_;
  // Null without sockets.
  std::unique_ptr<bus::RouterSocket> router_;
  zmq::socket_t publisher_;
  std::string bound_requests_endpoint_;
  std::string bound_events_endpoint_;
  std::unique_ptr<StoreOutput> socket_output_;  // over router_ and publisher_, if they exist
  StoreOutput* output_;

  // Reused for every acknowledgement (their strings keep their capacity).
  es::v1::StoreReply append_reply_;
  es::v1::StoreReply append_many_reply_;
  std::vector<CommittedEvent> publish_scratch_;  // a batch message's events
  // Oldest first.
  std::deque<SubmittedBatch> submitted_;
  std::vector<std::unique_ptr<google::protobuf::Arena>> spare_arenas_;

  uint64_t appends_total_ = 0;
  uint64_t events_appended_total_ = 0;
  uint64_t commits_total_ = 0;
  uint64_t requests_refused_ = 0;
  uint64_t frames_dropped_ = 0;
  size_t pending_append_bytes_ = 0;  // in submitted_
  // The recorded_at given to the last batch (or found on the last stored
  // event): a batch never gets an earlier one, even if the clock steps
  // back, so recorded_at is monotonic in global position and a read "as it
  // was at time T" is a prefix of the log.
  int64_t last_recorded_at_us_ = 0;
  ThroughputWindow throughput_;
  ListenerRegistry listeners_;
};

}  // namespace es::store
