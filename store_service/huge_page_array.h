// A fixed-size array for big tables read at random (the index's hash
// slots). From 2 MiB up it lives in its own 2 MiB-aligned mapping, and the
// kernel is asked to back it with transparent huge pages (madvise: the
// setting Debian ships): a lookup in a table of tens of megabytes then costs
// a cache miss, but rarely a TLB miss and page walk on top. Smaller arrays
// come from the heap. Without huge pages (disabled, or none free) it is
// ordinary memory.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace es::store {

template <typename T>
class HugePageArray {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);

 public:
  HugePageArray() = default;
  // `count` elements, each `fill`. Throws std::bad_alloc when out of memory.
  HugePageArray(size_t count, T fill) : HugePageArray(count) {
    for (size_t i = 0; i < count; ++i) data_[i] = fill;
  }
  // `count` zeroed elements (a mapping comes zeroed from the kernel: no pass
  // over it here).
  explicit HugePageArray(size_t count) : size_(count) {
    const size_t bytes = count * sizeof(T);
    if (bytes < kHugePage) {
      data_ = new T[count]();
    } else {
      // Map one huge page more than needed, to start on a 2 MiB boundary.
      mapped_bytes_ = bytes + kHugePage;
      void* mapped =
          mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (mapped == MAP_FAILED) throw std::bad_alloc();
      mapping_ = mapped;
      const auto address = reinterpret_cast<uintptr_t>(mapped);
      const uintptr_t aligned = (address + kHugePage - 1) & ~(uintptr_t{kHugePage} - 1);
      data_ = reinterpret_cast<T*>(aligned);
      madvise(data_, bytes, MADV_HUGEPAGE);  // a hint: ignored where unsupported
    }
  }
  ~HugePageArray() { Release(); }

  HugePageArray(HugePageArray&& other) noexcept { *this = std::move(other); }
  HugePageArray& operator=(HugePageArray&& other) noexcept {
    if (this != &other) {
      Release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      mapping_ = std::exchange(other.mapping_, nullptr);
      mapped_bytes_ = std::exchange(other.mapped_bytes_, 0);
    }
    return *this;
  }
  HugePageArray(const HugePageArray&) = delete;
  HugePageArray& operator=(const HugePageArray&) = delete;

  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  static constexpr size_t kHugePage = size_t{2} << 20;

  void Release() {
    if (mapping_ != nullptr) {
      munmap(mapping_, mapped_bytes_);
    } else {
      delete[] data_;
    }
    data_ = nullptr;
    size_ = 0;
    mapping_ = nullptr;
    mapped_bytes_ = 0;
  }

  T* data_ = nullptr;
  size_t size_ = 0;
  void* mapping_ = nullptr;  // set when mapped (else data_ is from new[])
  size_t mapped_bytes_ = 0;
};

}  // namespace es::store
