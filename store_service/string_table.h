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
#include <future>
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
  // Calls f(entry) for every entry, oldest first.
  template <typename F>
  void ForEach(F&& f) const {
    for (const Entry& entry : entries_) f(entry);
  }

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
    return InsertWithHash(key, Hash(key), std::move(value));
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
    return InsertWithHash(key, hash, std::move(value));
  }

  Entry& newest() { return entries_.back(); }

  // Erases the newest entry (undoing the last Insert); the table must not
  // be empty.
  void EraseNewest() {
    const auto id = static_cast<uint32_t>(entries_.size());  // the newest's slot id
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
  // All-zero is an empty slot, so a fresh array (zeroed by the kernel)
  // needs no fill pass.
  static constexpr uint32_t kEmpty = 0;
  struct Slot {
    uint32_t tag;
    uint32_t id;  // 1 + an index into entries_, or kEmpty
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
        Entry& entry = entries_[slot.id - 1];
        if (entry.key == key) return &entry;
      }
    }
  }

  // Inserts `key` (not in the table), whose hash is `hash`.
  Entry& InsertWithHash(std::string_view key, uint64_t hash, V value) {
    MakeRoomForOneMore();
    const auto id = static_cast<uint32_t>(entries_.size());
    entries_.push_back(Entry{std::string(key), std::move(value)});
    Place(hash, id);
    return entries_.back();
  }

  void Place(uint64_t hash, uint32_t index) { PlaceSlot(Slot{Tag(hash), index + 1}); }

  // A slot's home is tag & mask_ (the mask never exceeds 32 bits).
  void PlaceSlot(Slot slot) {
    size_t i = slot.tag & mask_;
    while (slots_[i].id != kEmpty) i = (i + 1) & mask_;
    slots_[i] = slot;
  }

  // Grows at 70% use. A big table's next array is mapped and faulted in on
  // a helper thread from 60% on (a sixth of a doubling's inserts ahead: far
  // more time than it takes, and twice the slots' memory held only that
  // long), so that the kernel's work (zeroing tens of megabytes, compacting
  // memory for huge pages: up to ~100 ms) is not a pause of the thread that
  // inserts; Grow then only sweeps.
  void MakeRoomForOneMore() {
    const size_t wanted = (entries_.size() + 1) * 10;
    if (wanted > slots_.size() * 7) return Grow();
    if (wanted > slots_.size() * 6 && !next_slots_.valid() &&
        slots_.size() * sizeof(Slot) >= kPrepareFromBytes) {
      next_slots_ = std::async(std::launch::async, [capacity = slots_.size() * 2] {
        HugePageArray<Slot> prepared(capacity);
        // Writing one slot per page makes the kernel supply every page now.
        constexpr size_t kSlotsPerPage = 4096 / sizeof(Slot);
        auto* slots = const_cast<volatile Slot*>(&prepared[0]);
        for (size_t i = 0; i < capacity; i += kSlotsPerPage) slots[i].id = kEmpty;
        return prepared;
      });
    }
  }

  void Grow() {
    const size_t capacity = slots_.empty() ? 1024 : slots_.size() * 2;
    if (capacity > (size_t{1} << 32)) throw std::length_error("StringTable: too many entries");
    // The new array first: if it cannot be had (bad_alloc), the table is
    // left as it was.
    HugePageArray<Slot> grown;
    if (next_slots_.valid()) grown = next_slots_.get();
    if (grown.size() != capacity) grown = HugePageArray<Slot>(capacity);  // zeroed: all empty
    HugePageArray<Slot> old = std::exchange(slots_, std::move(grown));
    mask_ = capacity - 1;
    // In old-slot order, each new home is the old one or that plus the old
    // size: two sequential sweeps of writes.
    for (size_t i = 0; i < old.size(); ++i) {
      if (old[i].id != kEmpty) PlaceSlot(old[i]);
    }
  }

  static constexpr size_t kPrepareFromBytes = size_t{2} << 20;

  HugePageArray<Slot> slots_;                    // a power of two, at most 70% used
  std::future<HugePageArray<Slot>> next_slots_;  // being prepared for Grow
  size_t mask_ = 0;
  std::deque<Entry> entries_;
};

}  // namespace es::store
