// The in-memory index over the event log: for each stream its current
// version and the global position of every version (so a stream read is
// primary-key lookups), and for each command id the result of the append
// that carried it (so a retried command is answered without a search).
//
// Engines that keep only the ordered log on disk (SQLite-as-log, an
// append-only file) rebuild this at start-up with one scan (AddRecovered)
// and update it as they append. Updates made while a batch is being
// written are journaled, so a failed commit can be undone (AbortBatch).
//
// Several batches may be pending at once (an engine that plans the next
// batch while the previous one is being synced): they commit oldest first,
// and a failure undoes every pending batch, since each later one was
// planned on top of the earlier ones. head() includes pending batches;
// committed_head() does not.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "es/v1/store.pb.h"
#include "store_service/status.h"
#include "store_service/string_table.h"

namespace es::store {

class LogIndex {
 public:
  // The last position in the log (0 = empty), including positions added by
  // pending batches.
  uint64_t head() const { return head_; }
  // The last position of a committed batch.
  uint64_t committed_head() const { return committed_head_; }
  // Whether a batch is pending.
  bool has_pending_batches() const { return !pending_.empty(); }
  uint64_t stream_count() const { return streams_.size(); }
  // Streams that have a committed event.
  uint64_t committed_stream_count() const { return streams_.size() - pending_new_streams_; }

  // The stream's current version (0 = no such stream), pending batches
  // included.
  uint64_t StreamVersion(std::string_view stream_id) const;
  // The stream's version as of committed_head().
  uint64_t CommittedStreamVersion(std::string_view stream_id) const;
  // How many of `positions` (a stream's, ascending) are committed.
  uint64_t CommittedCount(const std::vector<uint64_t>& positions) const;

  // Up to `max_count` streams with an event at or before `through`, whose
  // ids start with `prefix` and sort after `after`, in id order, with
  // their versions as of `through`: one pass over the streams (an
  // operator's listing, not a hot path).
  void ListStreams(std::string_view prefix, std::string_view after, size_t max_count,
                   uint64_t through, es::v1::ListStreamsResult* result) const;

  // positions[v - 1] is the global position of version v; nullptr when the
  // stream does not exist. Valid until the next change to the index.
  const std::vector<uint64_t>* StreamPositions(std::string_view stream_id) const;

  // Starts loading what StreamVersion(stream_id) and FindCommand(command_id)
  // will touch (a hint: no effect on the index).
  void Prefetch(std::string_view stream_id, std::string_view command_id) const {
    streams_.Prefetch(stream_id);
    commands_.Prefetch(command_id);
  }

  // The result of the append that carried `command_id` (duplicate=false).
  std::optional<es::v1::AppendResult> FindCommand(std::string_view command_id) const;

  // Start-up: adds one event read from the log, in position order. Fails
  // (STORAGE_FAILURE) when the log is inconsistent: a position or stream
  // version out of sequence, or a command id used by two appends.
  Status AddRecovered(uint64_t position, std::string_view stream_id, uint64_t stream_version,
                      std::string_view command_id);

  // Starts a new pending batch: changes from here on are journaled as its
  // own. Earlier batches may still be pending.
  void BeginBatch();
  // Places an append of `event_count` events to `stream_id` at the head and
  // returns where it went, as part of the newest pending batch. The caller
  // has validated it and checked that `command_id` is new.
  es::v1::AppendResult Add(std::string_view stream_id, std::string_view command_id,
                           uint64_t event_count);
  // Keeps the changes of the OLDEST pending batch (its transaction
  // committed).
  void CommitBatch();
  // Undoes every change of every pending batch (the oldest one's
  // transaction failed, and the later ones were planned on top of it).
  void AbortBatch();

 private:
  struct CommandEntry {
    const std::string* stream_id;  // a key of streams_; keys never move
    uint64_t first_version;
    uint64_t last_version;
    uint64_t first_position;
    uint64_t last_position;
  };
  using StreamTable = StringTable<std::vector<uint64_t>>;
  using CommandTable = StringTable<CommandEntry>;
  // One append made during a batch, enough to undo it.
  struct JournalEntry {
    StreamTable::Entry* stream;
    size_t previous_stream_size;  // 0 = the batch created the stream
  };

  // The stream's entry, created if needed (*created says so).
  StreamTable::Entry& StreamFor(std::string_view stream_id, bool* created);

  uint64_t head_ = 0;
  StreamTable streams_;
  CommandTable commands_;

  // Start-up only: the command whose run of events is being read.
  CommandTable::Entry* recovering_run_ = nullptr;

  struct PendingBatch {
    size_t journal_entries = 0;  // the batch's, at the front of journal_
    uint64_t head = 0;           // the head after the batch
    uint64_t new_streams = 0;    // streams the batch created
  };
  uint64_t committed_head_ = 0;
  // Pending batches, oldest first, and their journal entries, oldest first.
  std::deque<PendingBatch> pending_;
  std::deque<JournalEntry> journal_;
  uint64_t pending_new_streams_ = 0;
};

}  // namespace es::store
