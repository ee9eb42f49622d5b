// The in-memory index over the event log: for each stream its current
// version and the global position of every version (so a stream read is
// primary-key lookups), and for each command id the result of the append
// that carried it (so a retried command is answered without a search).
//
// Engines that keep only the ordered log on disk (SQLite-as-log, an
// append-only file) rebuild this at start-up with one scan (AddRecovered)
// and update it as they append. Updates made while a batch is being
// written are journaled, so a failed commit can be undone (AbortBatch).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "es/v1/store.pb.h"
#include "store_service/status.h"

namespace es::store {

class LogIndex {
 public:
  // The last position in the log (0 = empty), including positions added by
  // an open batch.
  uint64_t head() const { return head_; }
  uint64_t stream_count() const { return streams_.size(); }

  // The stream's current version (0 = no such stream).
  uint64_t StreamVersion(std::string_view stream_id) const;

  // positions[v - 1] is the global position of version v; nullptr when the
  // stream does not exist. Valid until the next change to the index.
  const std::vector<uint64_t>* StreamPositions(std::string_view stream_id) const;

  // The result of the append that carried `command_id` (duplicate=false).
  std::optional<es::v1::AppendResult> FindCommand(std::string_view command_id) const;

  // Start-up: adds one event read from the log, in position order. Fails
  // (STORAGE_FAILURE) when the log is inconsistent: a position or stream
  // version out of sequence, or a command id used by two appends.
  Status AddRecovered(uint64_t position, std::string_view stream_id, uint64_t stream_version,
                      std::string_view command_id);

  // Starts journaling changes. Batches do not nest.
  void BeginBatch();
  // Places an append of `event_count` events to `stream_id` at the head and
  // returns where it went. The caller has validated it and checked that
  // `command_id` is new.
  es::v1::AppendResult Add(std::string_view stream_id, std::string_view command_id,
                           uint64_t event_count);
  // Keeps the batch's changes (its transaction committed).
  void CommitBatch();
  // Undoes every change since BeginBatch (its transaction failed).
  void AbortBatch();

 private:
  // Heterogeneous lookup, so a string_view finds a std::string key.
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <typename V>
  using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

  struct CommandEntry {
    const std::string* stream_id;  // a key of streams_; element keys never move
    uint64_t first_version;
    uint64_t last_version;
    uint64_t first_position;
    uint64_t last_position;
  };
  // One change made during a batch, enough to undo it.
  struct JournalEntry {
    const std::string* stream_id;
    size_t previous_stream_size;  // 0 = the batch created the stream
    const std::string* command_id;
  };

  // The stream's positions, creating the stream if needed; *key receives
  // the stable address of its id.
  std::vector<uint64_t>& StreamFor(std::string_view stream_id, const std::string** key);

  uint64_t head_ = 0;
  StringMap<std::vector<uint64_t>> streams_;
  StringMap<CommandEntry> commands_;

  // Start-up only: the command whose run of events is being read. Element
  // addresses are stable across rehashing.
  StringMap<CommandEntry>::value_type* recovering_run_ = nullptr;

  bool in_batch_ = false;
  uint64_t head_before_batch_ = 0;
  std::vector<JournalEntry> journal_;
};

}  // namespace es::store
