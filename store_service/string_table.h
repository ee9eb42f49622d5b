// A hash table from strings to values for the store's in-memory indexes
// (LogIndex), built for what they do: many lookups that miss (new command
// ids), inserts, and undoing the newest inserts when a batch fails.
//
// Open addressing with linear probing over 8-byte slots (a 32-bit hash tag
// and an entry number), so a lookup that misses usually touches one cache
// line; std::unordered_map touches a bucket and a node or two. The tag is
// the hash's low 32 bits, so a slot alone knows its home: growing sweeps
// the old slots in order and writes the new ones nearly in order, without
// visiting the entries (with millions of them, a visit per entry made each
// doubling a pause of tens of milliseconds). The slots are in huge pages
// where the kernel allows (HugePageArray). Entries live in a deque: their
// keys and values never move, so pointers to them stay valid. Only the
// newest entry can be erased.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store_service/huge_page_array.h"

namespace es::store {

template <typename V>
class StringTable {
 public:
  struct Entry {
    std::string key;
    V value;
  };

  size_t size() const { return entries_.size(); }

  Entry* Find(std::string_view key) { return FindWithHash(key, Hash(key)); }
  const Entry* Find(std::string_view key) const {
    return const_cast<StringTable*>(this)->FindWithHash(key, Hash(key));
  }

  // Starts loading the slot `key` hashes to into the cache: a lookup a few
  // steps later then usually finds it there instead of waiting on memory
  // (a big table misses the cache on every lookup).
  void Prefetch(std::string_view key) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[Hash(key) & mask_]);
  }

  // Inserts `key`, which must not be in the table.
  Entry& Insert(std::string_view key, V value) {
    const uint64_t hash = Hash(key);
    if ((entries_.size() + 1) * 10 > slots_.size() * 7) Grow();
    const auto id = static_cast<uint32_t>(entries_.size());
    entries_.push_back(Entry{std::string(key), std::move(value)});
    Place(hash, id);
    return entries_.back();
  }

  // Finds `key`, inserting it with `value` if it is missing; *inserted
  // says which.
  Entry& FindOrInsert(std::string_view key, V value, bool* inserted) {
    const uint64_t hash = Hash(key);
    if (Entry* entry = FindWithHash(key, hash)) {
      *inserted = false;
      return *entry;
    }
    *inserted = true;
    if ((entries_.size() + 1) * 10 > slots_.size() * 7) Grow();
    const auto id = static_cast<uint32_t>(entries_.size());
    entries_.push_back(Entry{std::string(key), std::move(value)});
    Place(hash, id);
    return entries_.back();
  }

  Entry& newest() { return entries_.back(); }

  // Erases the newest entry (undoing the last Insert); the table must not
  // be empty.
  void EraseNewest() {
    const auto id = static_cast<uint32_t>(entries_.size() - 1);
    size_t i = Hash(entries_.back().key) & mask_;
    while (slots_[i].id != id) i = (i + 1) & mask_;
    // Backward-shift deletion: move later members of the probe run into
    // the hole when their home slot allows it.
    size_t hole = i;
    for (size_t j = (hole + 1) & mask_; slots_[j].id != kEmpty; j = (j + 1) & mask_) {
      const size_t home = slots_[j].tag & mask_;
      // Can the entry at j move to the hole? Only if its home is not in
      // the cyclic range (hole, j].
      const bool home_after_hole =
          hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
      if (home_after_hole) continue;
      slots_[hole] = slots_[j];
      hole = j;
    }
    slots_[hole] = Slot{0, kEmpty};
    entries_.pop_back();
  }

 private:
  static constexpr uint32_t kEmpty = UINT32_MAX;
  struct Slot {
    uint32_t tag;
    uint32_t id;  // an index into entries_, or kEmpty
  };

  static uint64_t Hash(std::string_view key) { return std::hash<std::string_view>{}(key); }
  static uint32_t Tag(uint64_t hash) { return static_cast<uint32_t>(hash); }

  Entry* FindWithHash(std::string_view key, uint64_t hash) {
    if (slots_.empty()) return nullptr;
    const uint32_t tag = Tag(hash);
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot slot = slots_[i];
      if (slot.id == kEmpty) return nullptr;
      if (slot.tag == tag) {
        Entry& entry = entries_[slot.id];
        if (entry.key == key) return &entry;
      }
    }
  }

  void Place(uint64_t hash, uint32_t id) { PlaceSlot(Slot{Tag(hash), id}); }

  // A slot's home is tag & mask_ (the mask never exceeds 32 bits).
  void PlaceSlot(Slot slot) {
    size_t i = slot.tag & mask_;
    while (slots_[i].id != kEmpty) i = (i + 1) & mask_;
    slots_[i] = slot;
  }

  void Grow() {
    const size_t capacity = slots_.empty() ? 1024 : slots_.size() * 2;
    if (capacity > (size_t{1} << 32)) throw std::length_error("StringTable: too many entries");
    // The new array first: if it cannot be had (bad_alloc), the table is
    // left as it was.
    HugePageArray<Slot> grown(capacity, Slot{0, kEmpty});
    HugePageArray<Slot> old = std::exchange(slots_, std::move(grown));
    mask_ = capacity - 1;
    // In old-slot order, each new home is the old one or that plus the old
    // size: two sequential sweeps of writes.
    for (size_t i = 0; i < old.size(); ++i) {
      if (old[i].id != kEmpty) PlaceSlot(old[i]);
    }
  }

  HugePageArray<Slot> slots_;  // a power of two, at most 70% used
  size_t mask_ = 0;
  std::deque<Entry> entries_;
};

}  // namespace es::store
