// The saga's low-water mark: the highest global position P such that every
// event at or below P has been handled, i.e. it called for no command or its
// command is done. Events arrive in position order but their commands finish
// in any order, so the tracker keeps the window of positions between the mark
// and the newest event, as spans:
//
//   checkpoint | pending | done | pending | done ...        (newest at the end)
//
// A span covers the positions after the previous span up to its own `through`
// and carries the transfer tally of the events in it. Adjacent done spans are
// merged and a done span at the front is folded into the checkpoint, so the
// window never holds more than two spans per pending event, whatever the
// number of events handled while one command is stuck.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>

#include "saga_service/checkpoint_file.h"
#include "saga_service/transfer_tally.h"

namespace es::saga {

class PositionTracker {
 public:
  // Starts with everything at or below `start.position` handled.
  explicit PositionTracker(const SagaCheckpoint& start);

  // The event at `position` is handled already (it called for no command).
  // Returns false, changing nothing, unless `position` > newest().
  bool AddHandled(uint64_t position, const TransferTally& tally);
  // The event at `position` waits for its command: Complete(position) later.
  // Returns false, changing nothing, unless `position` > newest().
  bool AddPending(uint64_t position, const TransferTally& tally);
  // The command of the pending event at `position` is done. Returns false,
  // changing nothing, if no event at `position` is pending.
  bool Complete(uint64_t position);
  // No event at or below `position` remains to be added: positions not added
  // hold nothing for the saga. Ignored unless `position` > newest().
  void SkipThrough(uint64_t position);

  // The low-water mark and the tally of every event at or below it.
  const SagaCheckpoint& checkpoint() const { return checkpoint_; }
  // The tally of every event added (and of the starting checkpoint).
  const TransferTally& seen() const { return seen_; }
  // The highest position added or skipped.
  uint64_t newest() const { return newest_; }
  // Events added as pending and not completed yet.
  size_t pending() const { return pending_; }
  // Spans in the window (for tests of its bound).
  size_t window_spans() const { return window_.size(); }

 private:
  struct Span {
    bool done = false;
    TransferTally tally;
  };
  using Window = std::map<uint64_t, Span>;  // by the span's last position

  // Appends a done span through `position`, merged into its neighbour.
  void AppendDone(uint64_t position, const TransferTally& tally);
  // Folds done spans at the front of the window into the checkpoint.
  void FoldFront();

  SagaCheckpoint checkpoint_;
  TransferTally seen_;
  uint64_t newest_;
  Window window_;
  size_t pending_ = 0;
};

}  // namespace es::saga
