// Rates over a sliding window: counts are added to fixed time buckets, and
// a rate is the sum of the buckets still inside the window divided by the
// window (or by the time since the first count, early on).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

namespace es::store {

class ThroughputWindow {
 public:
  using Clock = std::chrono::steady_clock;

  // Appends and events per second.
  struct Rates {
    double appends_per_s = 0;
    double events_per_s = 0;
  };

  explicit ThroughputWindow(Clock::time_point start) : start_(start) {}

  void Add(Clock::time_point now, uint64_t appends, uint64_t events);
  Rates RatesAt(Clock::time_point now);

 private:
  static constexpr std::chrono::milliseconds kBucketWidth{100};
  static constexpr size_t kBuckets = 50;  // a 5 s window

  struct Bucket {
    int64_t tick = -1;  // which kBucketWidth interval since start_ it counts
    uint64_t appends = 0;
    uint64_t events = 0;
  };

  int64_t TickOf(Clock::time_point now) const;

  Clock::time_point start_;
  std::array<Bucket, kBuckets> buckets_;
};

}  // namespace es::store
