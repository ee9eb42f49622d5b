// A subscriber that never trusts PUB/SUB alone: the zguide's Clone pattern
// (snapshot + sequenced updates + recovery), with the store as the snapshot.
//
//  1. It connects its SUB socket first, so nothing published from then on is
//     missed by a slow join.
//  2. It reads history from the store in pages, from its starting position
//     up to the head.
//  3. It follows the live stream, dropping what it already has.
//  4. It repairs from the store whenever the live stream shows a loss: an
//     event beyond the next expected position, a heartbeat whose head is
//     ahead of what it has, or silence longer than the heartbeat timeout
//     (then it asks the store for its head).
//
// A filtered subscriber (stream prefix) sees non-contiguous positions, so a
// live event beyond the next position proves nothing by itself. It holds such
// events back and confirms them with one filtered store read per burst: the
// read's `scanned_through` tells up to which position nothing else matches.
// Unfiltered subscribers deliver contiguous live events without a read.
//
// The caller receives every matching event exactly once, in global order,
// and may persist `position()` (or the last event's position) as its
// checkpoint: a new subscriber started from checkpoint + 1 continues exactly.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <zmq.hpp>

#include "bus/async_rpc.h"
#include "bus/rpc_client.h"
#include "es/v1/store.pb.h"

namespace es::bus {

inline constexpr std::string_view kHeartbeatTopic = "\x01hb";
// The store's topic for batches of events (LiveMessage{batch}).
inline constexpr std::string_view kBatchTopic{
    "\x02"
    "batch",
    6};

struct CatchUpOptions {
  std::string store_requests{};  // the store's request endpoint (for reads)
  std::string store_events{};    // the store's PUB endpoint
  uint64_t from_position = 1;    // the first global position wanted
  std::string stream_prefix{};   // empty: every stream
  // With no stream_prefix: follow every position (so a loss shows as a gap,
  // with no confirming reads), but decode and return only events whose
  // stream id starts with one of these (empty: all). The others only move
  // position() on, read from the topic frame and the event's position
  // without decoding the event: how the saga ignores streams it does not
  // react to at a fraction of a decode's cost.
  std::vector<std::string> deliver_only{};
  // With no stream_prefix: take the live stream as the store's batches (up
  // to 16 events a message) rather than one message per event. The same
  // events in the same order, at a fraction of the cost per event for both
  // the store and the subscriber.
  bool batched = false;
  uint32_t page_size = 2000;  // events per store read
  int receive_hwm = 100000;   // the SUB socket's receive high-water mark
  // No message at all for this long (not even a heartbeat): ask the store.
  std::chrono::milliseconds silence_timeout{1000};
  RpcOptions rpc{.attempt_timeout = std::chrono::milliseconds(1000),
                 .deadline = std::chrono::milliseconds(2000)};
  // When set, the subscriber reports position() to the store under this name
  // every report_interval (fire and forget), so `esctl stats` shows its
  // checkpoint and lag.
  std::string name{};
  std::chrono::milliseconds report_interval{1000};
};

struct CatchUpCounters {
  uint64_t live_events = 0;        // delivered straight from PUB
  uint64_t read_events = 0;        // delivered from store reads
  uint64_t repairs = 0;            // store reads caused by a detected loss
  uint64_t store_unavailable = 0;  // reads that failed (retried later)
};

class CatchUpSubscriber {
 public:
  CatchUpSubscriber(zmq::context_t& context, CatchUpOptions options);
  ~CatchUpSubscriber();
  CatchUpSubscriber(const CatchUpSubscriber&) = delete;
  CatchUpSubscriber& operator=(const CatchUpSubscriber&) = delete;

  // Returns the next matching event, waiting up to `timeout` for one;
  // nullopt when none came in time (the store may be down: it keeps trying
  // on later calls).
  std::optional<es::v1::EventRecord> Next(std::chrono::milliseconds timeout);
  // The same into *out, for a caller that reuses one record: the record it
  // passes in is recycled for a later event (its strings keep their
  // capacity), so a busy subscriber allocates next to nothing per event.
  // False when none came in time (*out is then unchanged).
  bool Next(es::v1::EventRecord* out, std::chrono::milliseconds timeout);

  // Every matching event at or below this position has been returned by
  // Next() (or is queued to be). A safe checkpoint.
  uint64_t position() const { return delivered_through_; }
  // The store's head as last seen (from a read or a heartbeat).
  uint64_t known_head() const { return known_head_; }
  const CatchUpCounters& counters() const { return counters_; }
  // The live SUB socket, for an event loop's zmq::poll: when it is readable,
  // Next(0ms) has work to do.
  zmq::socket_t& live_socket() { return sub_; }

 private:
  void HandleLive(zmq::message_t& topic, zmq::message_t& body);
  // One live event's EventRecord bytes (from an event or a batch message).
  void HandleLiveRecord(std::string_view record);
  void HandleBatch(const zmq::message_t& body);
  void AcceptLiveEvent(es::v1::EventRecord&& event);
  // A live event at `position` that this subscriber does not deliver.
  void AcceptSkipped(uint64_t position);
  // Whether a live event at `position` continues what we hold with no loss
  // pending (so an unfiltered subscriber may take it without a store read).
  bool IsNextLive(uint64_t position) const;
  // Whether events of `stream_id` are delivered (options_.deliver_only).
  bool Delivers(std::string_view stream_id) const;
  // Reads from the store until everything up to `target` is accounted for
  // (target 0: up to the head the store reports). Returns false if the store
  // did not answer (what was read so far is kept), or if it stopped early
  // to hand the caller a bounded batch.
  bool ReadFromStore(uint64_t target);
  // One read_all request in flight, keyed by its from_position.
  struct PendingRead {
    bool done = false;
    std::optional<es::v1::StoreReply> reply;
  };
  void RequestPage(uint64_t from);
  // Pumps replies until `read` is done; false if the store never answered.
  bool WaitFor(const PendingRead& read);
  bool DrainSocket();  // true if anything was received
  void ReportPosition();
  // Moves the oldest ready event into *out (ready_ must not be empty) and
  // keeps what *out held for reuse.
  void PopReady(es::v1::EventRecord* out);
  // A record to parse into: a recycled one if there is one.
  es::v1::EventRecord TakeSpare();

  CatchUpOptions options_;
  zmq::socket_t sub_;
  AsyncRpc<es::v1::StoreRequest, es::v1::StoreReply> store_;
  std::map<uint64_t, std::shared_ptr<PendingRead>> reads_;
  bool caught_up_ = false;
  // Every matching event <= through_ is in ready_ or already delivered.
  uint64_t through_ = 0;
  uint64_t delivered_through_ = 0;
  uint64_t repair_target_ = 0;  // a loss is known up to here
  uint64_t known_head_ = 0;
  std::deque<es::v1::EventRecord> ready_;
  std::vector<es::v1::EventRecord> spare_;        // recycled records (bounded)
  std::map<uint64_t, es::v1::EventRecord> held_;  // live events not yet confirmed
  std::chrono::steady_clock::time_point last_message_;
  std::chrono::steady_clock::time_point next_report_{};
  std::unique_ptr<zmq::socket_t> reporter_;  // DEALER, replies discarded
  CatchUpCounters counters_;
};

}  // namespace es::bus
