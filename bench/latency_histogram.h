// A log-linear latency histogram (the HdrHistogram idea, ~1% precision):
// constant memory, O(1) record, mergeable across threads and processes.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>

namespace es::bench {

class LatencyHistogram {
 public:
  void Record(std::chrono::nanoseconds latency);
  void RecordNanos(int64_t nanos);
  void Merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  // The latency at quantile q in [0, 1] (e.g. 0.999), in milliseconds; the
  // upper edge of its bucket, so never an underestimate. 0 when empty.
  double QuantileMs(double q) const;
  double MaxMs() const { return static_cast<double>(max_) / 1e6; }
  double MeanMs() const;

  // {"p50":..,"p99":..,"p999":..} in milliseconds.
  std::string ToJson() const;
  // "p50 0.412 ms, p99 1.9 ms, p99.9 3.1 ms"
  std::string ToText() const;

 private:
  // Values below 2^kSubBits are exact; above, each power of two is split
  // into 2^(kSubBits-1) buckets (relative error < 2^-(kSubBits-1)).
  static constexpr int kSubBits = 7;
  static constexpr int kSubCount = 1 << kSubBits;  // 128
  static constexpr int kHalf = kSubCount / 2;      // 64
  static constexpr int kBuckets = kSubCount + (64 - kSubBits) * kHalf;

  static int BucketOf(uint64_t value);
  static uint64_t UpperEdgeOf(int bucket);

  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace es::bench
