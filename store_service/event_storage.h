// The store's durable, ordered log of events, behind one interface so that
// engines can be swapped (SQLite today; an append-only log file later).
//
// Model: one global log. Every committed event has a gap-free global
// position (1, 2, ...) and, within its stream, a gap-free version (1, 2, ...).
// An engine keeps whatever indexes it needs to answer the queries below; the
// SQLite engine keeps them in memory and rebuilds them at Open.
//
// Threading: an EventStorage is used by one thread at a time. Errors are
// returned as Status values; no method throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "es/v1/event.pb.h"
#include "es/v1/store.pb.h"
#include "store_service/status.h"

namespace es::store {

// What happened to one append of a batch.
struct AppendOutcome {
  // Ok when the append is committed (or was committed before: then
  // result.duplicate() is true). Otherwise nothing of this append was
  // written, and the code says why: BAD_REQUEST, TOO_LARGE,
  // WRONG_EXPECTED_VERSION, STORAGE_FULL or STORAGE_FAILURE.
  Status status;
  // Set with WRONG_EXPECTED_VERSION: the stream's version at the time.
  uint64_t current_version = 0;
  // When ok: where the append's events are in the log.
  es::v1::AppendResult result;
};

// Bounds on one read.
struct ReadLimits {
  // Most events returned (callers resolve a request's 0 to their default).
  uint32_t max_count = 1000;
  // A read stops before an event that would take the total of event data,
  // ids and types past this many bytes, but always returns at least one
  // event when one is available, so a reader can always make progress.
  size_t max_bytes = size_t{4} << 20;
  // ReadAll examines at most this many positions (filtered reads of a large
  // log must not stall the store); scanned_through says where it stopped.
  uint64_t max_scanned = 100'000;
};

// The positions [first, last] a ReadAll from `from_position` examines, with
// `head` the last position it may read: the start every engine shares.
// Clears *result and sets its head; nothing when there is nothing to examine
// (then *result is complete, scanned_through set).
struct PositionRange {
  uint64_t first = 0;
  uint64_t last = 0;
};
std::optional<PositionRange> StartReadAll(uint64_t head, uint64_t from_position,
                                          const ReadLimits& limits, es::v1::ReadAllResult* result);

class EventStorage {
 public:
  virtual ~EventStorage() = default;

  // Opens (creating if needed) the engine's files and rebuilds its indexes.
  // Must be called once, before any other method; if it fails, the object
  // may only be destroyed. Fails with STORAGE_FAILURE when the files cannot
  // be opened or are inconsistent (positions or versions with gaps), or are
  // held by another open storage.
  virtual Status Open() = 0;

  // Appends a batch of requests in ONE durable transaction (group commit),
  // in batch order, and returns one outcome per request, in the same order.
  //
  // Each request is handled as if the earlier ones of the batch had been
  // committed already: two appends to one stream in a batch are ordered,
  // and a command id repeated in a batch is a duplicate of its first use.
  // For each request, in this order: a malformed request is refused
  // (ValidateAppend); a command id already stored returns the stored
  // result with duplicate=true and writes nothing; a stream version that
  // does not satisfy expected_version is refused. Refusals write nothing
  // and do not affect the rest of the batch.
  //
  // The accepted appends are placed in batch order, so their positions
  // ascend with the batch index, and durably committed before Append
  // returns. Every event gets `recorded_at_us`. If a write or the commit
  // fails, nothing of the batch is written, the indexes are as before the
  // call, and every outcome that depended on the transaction (new appends,
  // repeats of a command first seen in the batch), as well as every append
  // after the one that failed (not tried), is STORAGE_FULL (the disk or
  // database is full) or STORAGE_FAILURE. Refusals and repeats of commands
  // committed earlier keep their outcomes.
  virtual std::vector<AppendOutcome> Append(std::span<const es::v1::AppendRequest* const> batch,
                                            int64_t recorded_at_us) = 0;

  // Reads `stream_id` from `from_version` (0 and 1 both mean the start)
  // into *result, within `limits`. A stream that does not exist reads as
  // empty with stream_version 0 and end_of_stream true. Only committed
  // events are visible.
  virtual Status ReadStream(std::string_view stream_id, uint64_t from_version,
                            const ReadLimits& limits, es::v1::ReadStreamResult* result) = 0;

  // Reads the global log from `from_position` (0 and 1 both mean the start)
  // into *result, keeping only events whose stream id starts with
  // `stream_prefix` (empty = all), within `limits`. Sets head_position, and
  // scanned_through: every position <= scanned_through has been examined,
  // so the next page starts at scanned_through + 1. scanned_through never
  // exceeds the head.
  virtual Status ReadAll(uint64_t from_position, std::string_view stream_prefix,
                         const ReadLimits& limits, es::v1::ReadAllResult* result) = 0;

  // The position of the last committed event (0 = empty log).
  virtual uint64_t Head() const = 0;

  // The current version of `stream_id` (0 = no such stream).
  virtual uint64_t StreamVersion(std::string_view stream_id) const = 0;

  // How many streams exist.
  virtual uint64_t StreamCount() const = 0;

  // The committed streams whose ids start with `prefix` and sort after
  // `after`, in id order, at most `max_count`, with their versions
  // (LogIndex::ListStreams).
  virtual void ListStreams(std::string_view prefix, std::string_view after, uint32_t max_count,
                           es::v1::ListStreamsResult* result) const = 0;

  // The result of the committed append that carried `command_id`
  // (duplicate=false), or nullopt if no append carried it.
  virtual std::optional<es::v1::AppendResult> FindCommand(std::string_view command_id) const = 0;

  // A short name for stats and logs, e.g. "sqlite".
  virtual std::string_view EngineName() const = 0;

  // Append() for one request.
  AppendOutcome AppendOne(const es::v1::AppendRequest& request, int64_t recorded_at_us) {
    const es::v1::AppendRequest* batch[] = {&request};
    return std::move(Append(batch, recorded_at_us).front());
  }

  // Pipelined appends: Submit and TakeCompleted let a caller prepare the
  // next batch while earlier ones are being made durable (an engine that
  // syncs on a thread of its own). Do not mix them with Append while
  // batches are in flight.
  //
  // Submit plans `batch` exactly as Append would, against the state left
  // by every batch submitted before it, and starts committing it. The
  // requests must stay valid until the batch's outcomes are taken.
  // Batches complete in submission order. A batch's events become visible
  // (reads, Head, StreamVersion, FindCommand) only once its outcomes are
  // taken; heads and reads never show a batch that is not durable. If a
  // batch fails, every batch submitted after it and not yet taken fails
  // too, since it was planned on top of it: each of its appends gets the
  // failure's status, except BAD_REQUEST and TOO_LARGE refusals.
  //
  // The default commits at once (Append), so nothing overlaps.
  virtual void Submit(std::span<const es::v1::AppendRequest* const> batch, int64_t recorded_at_us) {
    completed_.push_back(Append(batch, recorded_at_us));
  }
  // The outcomes of the oldest submitted batch once it has completed;
  // nullopt while it has not, or when none is in flight.
  virtual std::optional<std::vector<AppendOutcome>> TakeCompleted() {
    if (completed_.empty()) return std::nullopt;
    std::vector<AppendOutcome> outcomes = std::move(completed_.front());
    completed_.pop_front();
    return outcomes;
  }
  // Submitted batches whose outcomes have not been taken.
  virtual size_t InFlight() const { return completed_.size(); }
  // A descriptor that polls readable when a batch may have completed
  // (TakeCompleted resets it), or -1 when Submit completes at once.
  virtual int CompletionFd() const { return -1; }

 private:
  // The default Submit's finished batches.
  std::deque<std::vector<AppendOutcome>> completed_;
};

// The record a committed append holds for its event `index`: what a read
// returns for it, and what the store publishes. `result` is the append's
// (non-duplicate) result, `recorded_at_us` the time passed to Append.
es::v1::EventRecord CommittedRecord(const es::v1::AppendRequest& request, int index,
                                    const es::v1::AppendResult& result, int64_t recorded_at_us);

// CommittedRecord into *record, reusing its strings' storage.
void FillCommittedRecord(const es::v1::AppendRequest& request, int index,
                         const es::v1::AppendResult& result, int64_t recorded_at_us,
                         es::v1::EventRecord* record);

// The bytes an event counts for against ReadLimits::max_bytes.
size_t RecordSize(const es::v1::EventRecord& record);

}  // namespace es::store
