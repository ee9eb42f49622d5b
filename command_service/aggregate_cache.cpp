#include "command_service/aggregate_cache.h"

namespace es::command {

void AggregateCache::Unlink(Aggregate* aggregate) {
  (aggregate->lru_newer != nullptr ? aggregate->lru_newer->lru_older : newest_) =
      aggregate->lru_older;
  (aggregate->lru_older != nullptr ? aggregate->lru_older->lru_newer : oldest_) =
      aggregate->lru_newer;
  aggregate->lru_newer = nullptr;
  aggregate->lru_older = nullptr;
}

void AggregateCache::PushNewest(Aggregate* aggregate) {
  aggregate->lru_older = newest_;
  (newest_ != nullptr ? newest_->lru_newer : oldest_) = aggregate;
  newest_ = aggregate;
}

Aggregate* AggregateCache::Get(const std::string& stream_id) {
  if (auto it = entries_.find(stream_id); it != entries_.end()) {
    Aggregate* aggregate = it->second.get();
    if (aggregate != newest_) {
      Unlink(aggregate);
      PushNewest(aggregate);
    }
    return aggregate;
  }
  auto aggregate = std::make_unique<Aggregate>();
  aggregate->stream_id = stream_id;
  // Handle() admits only aggregate streams; anything else folds as an
  // account and is refused as corrupt at its first record.
  aggregate->state = es::domain::AggregateOfStream(stream_id);
  Aggregate* raw = aggregate.get();
  entries_.emplace(std::string_view(raw->stream_id), std::move(aggregate));
  PushNewest(raw);
  return raw;
}

const Aggregate* AggregateCache::FindLoaded(const std::string& stream_id) const {
  auto it = entries_.find(stream_id);
  if (it == entries_.end() || !it->second->loaded) return nullptr;
  return it->second.get();
}

void AggregateCache::Trim() {
  Aggregate* candidate = oldest_;
  while (entries_.size() > capacity_ && candidate != nullptr) {
    Aggregate* aggregate = candidate;
    candidate = aggregate->lru_newer;
    if (aggregate->busy || aggregate->has_waiting()) continue;
    Erase(aggregate);
  }
}

void AggregateCache::Erase(Aggregate* aggregate) {
  Unlink(aggregate);
  // Erase by iterator: the key is a view of the aggregate being destroyed.
  entries_.erase(entries_.find(std::string_view(aggregate->stream_id)));
}

}  // namespace es::command
