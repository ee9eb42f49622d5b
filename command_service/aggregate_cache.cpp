#include "command_service/aggregate_cache.h"

namespace es::command {

Aggregate* AggregateCache::Get(const std::string& stream_id) {
  auto it = entries_.find(stream_id);
  if (it != entries_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return it->second.aggregate.get();
  }
  lru_.push_front(stream_id);
  auto aggregate = std::make_unique<Aggregate>();
  aggregate->stream_id = stream_id;
  Aggregate* raw = aggregate.get();
  entries_.emplace(stream_id, Entry{std::move(aggregate), lru_.begin()});
  return raw;
}

const Aggregate* AggregateCache::FindLoaded(const std::string& stream_id) const {
  auto it = entries_.find(stream_id);
  if (it == entries_.end() || !it->second.aggregate->loaded) return nullptr;
  return it->second.aggregate.get();
}

void AggregateCache::Trim() {
  auto it = lru_.end();
  while (entries_.size() > capacity_ && it != lru_.begin()) {
    --it;
    auto entry = entries_.find(*it);
    const Aggregate& aggregate = *entry->second.aggregate;
    if (aggregate.busy || aggregate.has_waiting()) continue;
    entries_.erase(entry);
    it = lru_.erase(it);
  }
}

}  // namespace es::command
