// The command service's working set: aggregates loaded from their streams,
// each with the outcomes of the commands that wrote it (for idempotency) and
// a queue that serializes commands to it — one command per aggregate is in
// flight to the store at a time, without any global lock.
//
// Bounded: when it holds more than `capacity` aggregates, the least recently
// used idle ones are dropped (they reload from the store when next needed).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "domain/aggregate.h"
#include "es/v1/command.pb.h"

namespace es::command {

struct Job;  // a request in progress (command_processor.cpp)

// What a command did, kept per command id so that a repeat is answered with
// the first outcome. Compact: one per command that wrote the stream.
struct StoredOutcome {
  bool accepted = false;
  es::v1::RefusalCode refusal_code = es::v1::REFUSAL_CODE_UNSPECIFIED;
  uint32_t events_written = 0;  // domain events (a CommandAnswered is none)
  uint64_t version = 0;
  uint64_t global_position = 0;
  std::string message;  // refusals only
  // es::domain::CommandDigest of the command, when this process saw it; 0
  // when the outcome was folded from the stream (a repeat is then compared
  // with the stored record, via find_command).
  uint64_t command_digest = 0;
};

struct Aggregate {
  std::string stream_id;
  bool loaded = false;
  // The folded stream (its version: state.version); the kind is set from
  // the stream id when the aggregate is created.
  es::domain::AggregateState state;
  // Outcome of every command that wrote this stream (from its records'
  // command ids: events, and CommandAnswered records of refusals).
  std::unordered_map<std::string, StoredOutcome> outcomes;
  // Loaded from a snapshot: `outcomes` lacks the commands before it, so a
  // command id missing from it may still be a repeat (ask the store).
  bool outcomes_partial = false;
  uint64_t snapshot_version = 0;  // of the newest snapshot loaded or written
  // Requests waiting for the aggregate; `busy` while one runs.
  bool busy = false;
  // An intrusive FIFO through Job::next_waiting: an idle aggregate costs no
  // allocation (a std::deque allocates ~600 bytes even when empty, which a
  // million cached accounts would pay).
  Job* waiting_head = nullptr;
  Job* waiting_tail = nullptr;
  bool has_waiting() const { return waiting_head != nullptr; }
  // The cache's recency list, intrusive (no node or key copy of its own).
  Aggregate* lru_newer = nullptr;
  Aggregate* lru_older = nullptr;

  void Reset() {
    loaded = false;
    state = es::domain::AggregateOfStream(stream_id);
    outcomes.clear();
    outcomes_partial = false;
    snapshot_version = 0;
  }
};

class AggregateCache {
 public:
  explicit AggregateCache(size_t capacity) : capacity_(capacity) {}

  // The aggregate for `stream_id`, created (not loaded) if absent. The
  // pointer stays valid while the aggregate is busy or has waiting work.
  Aggregate* Get(const std::string& stream_id);
  // The aggregate if it is present and loaded; nullptr otherwise.
  const Aggregate* FindLoaded(const std::string& stream_id) const;
  // Drops least recently used idle aggregates beyond capacity.
  void Trim();
  // Drops `aggregate` now (it must be idle: not busy, nothing waiting).
  void Erase(Aggregate* aggregate);
  size_t size() const { return entries_.size(); }

 private:
  void Unlink(Aggregate* aggregate);
  void PushNewest(Aggregate* aggregate);

  size_t capacity_;
  // Keyed by a view of the aggregate's own stream_id: one copy of each id.
  std::unordered_map<std::string_view, std::unique_ptr<Aggregate>> entries_;
  Aggregate* newest_ = nullptr;
  Aggregate* oldest_ = nullptr;
};

}  // namespace es::command
