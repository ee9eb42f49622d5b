// query_service's loop: follows the store with the catch-up subscriber (the
// public bus, as any listener), applies events to the Projection in
// batched transactions, and answers QueryRequests (query.proto) on its
// ROUTER between transactions, so every answer reflects exactly the
// projection's committed position.
//
// A query with a min_position beyond the projection waits (up to its
// wait_ms, capped by max_wait) and is answered as soon as a commit reaches
// it; past the bound it is answered STALE with the current position.
//
// The subscriber delivers every event once, in order, from the checkpoint
// + 1; the loop still checks that each event is the next position. One
// that is not (never seen so far) is logged and counted, what was applied
// is committed, and a new subscriber reads from the store from the
// checkpoint + 1 (a repair).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <zmq.hpp>

#include "bus/catch_up_subscriber.h"
#include "bus/router_frames.h"
#include "bus/server_socket.h"
#include "es/v1/query.pb.h"
#include "query_service/projection.h"

namespace es::query {

void Log(const char* format, ...) __attribute__((format(printf, 1, 2)));

struct QueryOptions {
  std::string data_dir;  // the database is data_dir/projection.db
  std::string store_requests;
  std::string store_events;
  std::string bind;                           // the ROUTER's endpoint
  std::chrono::milliseconds max_wait{10000};  // cap of a query's wait_ms
  size_t batch_events = 20000;                // at most this many events per transaction
  std::chrono::milliseconds batch_time{50};   // and at most this long applying them
};

class QueryLoop {
 public:
  // Opens the projection and binds. Throws zmq::error_t (bind) or
  // std::runtime_error (database).
  QueryLoop(zmq::context_t& context, QueryOptions options);
  ~QueryLoop();

  std::string endpoint() const;
  uint64_t position() const { return projection_->position(); }
  // Runs until `stop`; commits what it applied before returning. False if
  // the projection failed (SQLite error).
  bool Run(const std::atomic<bool>& stop);

 private:
  struct Waiting {
    zmq::message_t identity;
    es::v1::QueryRequest request;
    std::chrono::steady_clock::time_point deadline;
  };
  void NewSubscriber();
  // Rebuild: a second projection from position 1 beside the live one,
  // applied a slice per turn, swapped in when it has caught up.
  es::v1::RebuildStatus StartRebuild();
  es::v1::RebuildStatus RebuildProgress() const;
  void ApplyRebuildSlice();
  void SwapInRebuild();
  std::string LivePath() const { return options_.data_dir + "/projection.db"; }
  std::string RebuildPath() const { return options_.data_dir + "/projection.rebuild.db"; }
  // Applies what the subscriber has, in one transaction.
  void ApplyBatch();
  void ServeRequests();
  void Answer(const zmq::message_t& identity, const es::v1::QueryRequest& request, bool stale);
  void AnswerWaiting(bool expire_only);
  es::v1::QueryServiceStats Stats() const;

  QueryOptions options_;
  zmq::context_t& context_;
  std::unique_ptr<Projection> projection_;
  // While a rebuild runs.
  std::unique_ptr<Projection> rebuild_;
  std::unique_ptr<es::bus::CatchUpSubscriber> rebuild_subscriber_;
  std::chrono::steady_clock::time_point rebuild_started_;
  double last_rebuild_seconds_ = 0;
  uint64_t rebuilds_completed_ = 0;
  es::bus::RouterSocket router_;
  std::unique_ptr<es::bus::CatchUpSubscriber> subscriber_;
  es::v1::EventRecord record_;  // reused for every event
  std::deque<Waiting> waiting_;
  uint64_t events_applied_ = 0;
  uint64_t events_ignored_ = 0;
  uint64_t transactions_ = 0;
  uint64_t queries_ = 0;
  uint64_t stale_answers_ = 0;
  uint64_t position_repairs_ = 0;
  uint64_t dropped_requests_ = 0;
};

}  // namespace es::query
