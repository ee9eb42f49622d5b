#include "bench/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>

namespace es::bench {

int LatencyHistogram::BucketOf(uint64_t value) {
  if (value < kSubCount) return static_cast<int>(value);
  const int top = std::bit_width(value) - 1;         // >= kSubBits
  const int shift = top - (kSubBits - 1);            // >= 1
  const int sub = static_cast<int>(value >> shift);  // in [kHalf, kSubCount)
  return kSubCount + (shift - 1) * kHalf + (sub - kHalf);
}

uint64_t LatencyHistogram::UpperEdgeOf(int bucket) {
  if (bucket < kSubCount) return static_cast<uint64_t>(bucket);
  const int shift = (bucket - kSubCount) / kHalf + 1;
  const uint64_t sub = static_cast<uint64_t>((bucket - kSubCount) % kHalf + kHalf);
  return ((sub + 1) << shift) - 1;
}

void LatencyHistogram::Record(std::chrono::nanoseconds latency) { RecordNanos(latency.count()); }

void LatencyHistogram::RecordNanos(int64_t nanos) {
  const uint64_t value = nanos < 0 ? 0 : static_cast<uint64_t>(nanos);
  ++buckets_[static_cast<size_t>(BucketOf(value))];
  ++count_;
  max_ = std::max(max_, value);
  sum_ += static_cast<long double>(value);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

double LatencyHistogram::QuantileMs(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // The smallest value v such that at least q of the samples are <= v.
  const uint64_t rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      const uint64_t edge = std::min(UpperEdgeOf(static_cast<int>(i)), max_);
      return static_cast<double>(edge) / 1e6;
    }
  }
  return MaxMs();
}

double LatencyHistogram::MeanMs() const {
  if (count_ == 0) return 0;
  return static_cast<double>(sum_ / static_cast<long double>(count_)) / 1e6;
}

std::string LatencyHistogram::ToJson() const {
  char buf[160];
  std::snprintf(buf, sizeof buf, "{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f}", QuantileMs(0.50),
                QuantileMs(0.99), QuantileMs(0.999));
  return buf;
}

std::string LatencyHistogram::ToText() const {
  char buf[160];
  std::snprintf(buf, sizeof buf, "p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms",
                QuantileMs(0.50), QuantileMs(0.99), QuantileMs(0.999), MaxMs());
  return buf;
}

}  // namespace es::bench
