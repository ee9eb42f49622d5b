#include "saga_service/position_tracker.h"

#include <iterator>

namespace es::saga {

PositionTracker::PositionTracker(const SagaCheckpoint& start)
    : checkpoint_(start), seen_(start.transfers), newest_(start.position) {}

bool PositionTracker::AddHandled(uint64_t position, const TransferTally& tally) {
  if (position <= newest_) return false;
  newest_ = position;
  seen_ += tally;
  AppendDone(position, tally);
  return true;
}

bool PositionTracker::AddPending(uint64_t position, const TransferTally& tally) {
  if (position <= newest_) return false;
  newest_ = position;
  seen_ += tally;
  window_.emplace_hint(window_.end(), position, Span{.done = false, .tally = tally});
  ++pending_;
  return true;
}

bool PositionTracker::Complete(uint64_t position) {
  auto it = window_.find(position);
  if (it == window_.end() || it->second.done) return false;
  it->second.done = true;
  --pending_;
  // Keep no two done spans adjacent. The later span absorbs the earlier one,
  // so that no key (a span's last position) ever changes: a span's range
  // starts right after its predecessor's key.
  if (auto next = std::next(it); next != window_.end() && next->second.done) {
    next->second.tally += it->second.tally;
    window_.erase(it);
    it = next;
  }
  if (it != window_.begin()) {
    if (auto previous = std::prev(it); previous->second.done) {
      it->second.tally += previous->second.tally;
      window_.erase(previous);
    }
  }
  FoldFront();
  return true;
}

void PositionTracker::SkipThrough(uint64_t position) {
  if (position <= newest_) return;
  newest_ = position;
  AppendDone(position, TransferTally{});
}

void PositionTracker::AppendDone(uint64_t position, const TransferTally& tally) {
  if (window_.empty()) {
    checkpoint_.position = position;
    checkpoint_.transfers += tally;
    return;
  }
  auto last = std::prev(window_.end());
  if (!last->second.done) {
    window_.emplace_hint(window_.end(), position, Span{.done = true, .tally = tally});
    return;
  }
  // Extend the trailing done span to `position`.
  auto node = window_.extract(last);
  node.key() = position;
  node.mapped().tally += tally;
  window_.insert(window_.end(), std::move(node));
}

void PositionTracker::FoldFront() {
  while (!window_.empty() && window_.begin()->second.done) {
    checkpoint_.position = window_.begin()->first;
    checkpoint_.transfers += window_.begin()->second.tally;
    window_.erase(window_.begin());
  }
}

}  // namespace es::saga
