#include "bus/process_stats.h"

#include <unistd.h>

#include <cstdio>

namespace es::bus {

uint64_t ResidentBytes() {
  std::FILE* file = std::fopen("/proc/self/statm", "r");
  if (file == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  int read = std::fscanf(file, "%llu %llu", &size, &resident);
  std::fclose(file);
  if (read != 2) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

void RateMeter::Observe(uint64_t total) {
  const auto now = std::chrono::steady_clock::now();
  if (since_ == std::chrono::steady_clock::time_point{}) {
    since_ = now;
    total_at_since_ = total;
    return;
  }
  const double seconds = std::chrono::duration<double>(now - since_).count();
  if (seconds < 1.0) return;
  rate_ = static_cast<double>(total - total_at_since_) / seconds;
  since_ = now;
  total_at_since_ = total;
}

}  // namespace es::bus
