#include "store_service/throughput_window.h"

#include <algorithm>

namespace es::store {

int64_t ThroughputWindow::TickOf(Clock::time_point now) const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(now - start_) / kBucketWidth;
}

void ThroughputWindow::Add(Clock::time_point now, uint64_t appends, uint64_t events) {
  const int64_t tick = TickOf(now);
  Bucket& bucket = buckets_[static_cast<size_t>(tick) % kBuckets];
  if (bucket.tick != tick) bucket = Bucket{tick, 0, 0};  // reuse a slot that fell out of the window
  bucket.appends += appends;
  bucket.events += events;
}

ThroughputWindow::Rates ThroughputWindow::RatesAt(Clock::time_point now) {
  const int64_t tick = TickOf(now);
  uint64_t appends = 0;
  uint64_t events = 0;
  for (const Bucket& bucket : buckets_) {
    if (bucket.tick >= 0 && tick - bucket.tick < static_cast<int64_t>(kBuckets)) {
      appends += bucket.appends;
      events += bucket.events;
    }
  }
  // Early on, the window is only as long as the time since start.
  const Clock::duration window = std::min<Clock::duration>(now - start_, kBucketWidth * kBuckets);
  const double seconds = std::max(std::chrono::duration<double>(window).count(), 0.001);
  return Rates{static_cast<double>(appends) / seconds, static_cast<double>(events) / seconds};
}

}  // namespace es::store
