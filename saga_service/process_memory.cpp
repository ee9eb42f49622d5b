#include "saga_service/process_memory.h"

#include <unistd.h>

#include <cstdio>

namespace es::saga {

uint64_t ResidentSetBytes() {
  std::FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr) return 0;
  unsigned long long total_pages = 0;
  unsigned long long resident_pages = 0;
  const int fields = std::fscanf(statm, "%llu %llu", &total_pages, &resident_pages);
  std::fclose(statm);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (fields != 2 || page_size <= 0) return 0;
  return resident_pages * static_cast<uint64_t>(page_size);
}

}  // namespace es::saga
