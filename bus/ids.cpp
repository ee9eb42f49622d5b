#include "bus/ids.h"

#include <pthread.h>
#include <sys/random.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <system_error>

namespace es::bus {
namespace {

// Ids must be unguessable: the saga's step ids and any client's command ids
// are idempotency keys, and a seeded mt19937_64 can be predicted from a few
// of its outputs (and two processes seeded alike repeat each other). So the
// bits come from the kernel's random source, getrandom(2), which is fast
// per byte but a system call per request: each thread draws 4 KiB at a time
// (256 ids) and hands them out from its buffer.
struct RandomPool {
  static constexpr size_t kBytes = 4096;
  alignas(8) unsigned char bytes[kBytes];
  size_t next = kBytes;  // kBytes: empty
};

thread_local RandomPool pool;

// A forked child inherits its parent's buffer: without this, parent and
// child would hand out the same ids. Only the forking thread survives a
// fork, so emptying its pool is enough.
void EmptyPoolInChild() { pool.next = RandomPool::kBytes; }

void Refill() {
  static std::once_flag registered;
  std::call_once(registered, [] { pthread_atfork(nullptr, nullptr, EmptyPoolInChild); });
  size_t filled = 0;
  while (filled < RandomPool::kBytes) {
    // Blocks only until the kernel's pool is first initialised at boot.
    ssize_t got = getrandom(pool.bytes + filled, RandomPool::kBytes - filled, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      // No random source: no id can be trusted, and every caller needs one.
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    filled += static_cast<size_t>(got);
  }
  pool.next = 0;
}

uint64_t Random64() {
  if (pool.next + sizeof(uint64_t) > RandomPool::kBytes) Refill();
  uint64_t value;
  std::memcpy(&value, pool.bytes + pool.next, sizeof value);
  pool.next += sizeof value;
  return value;
}

}  // namespace

std::string NewUuid() {
  uint64_t hi = Random64();
  uint64_t lo = Random64();
  hi = (hi & ~0xF000ULL) | 0x4000ULL;              // version 4
  lo = (lo & ~(0xC0ULL << 56)) | (0x80ULL << 56);  // RFC 4122 variant
  // Hex by hand: snprintf was ~2% of command_service's CPU (an id per event).
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(36, '-');
  size_t at = 0;
  auto put = [&](uint64_t bits, int digits) {
    for (int i = digits - 1; i >= 0; --i) id[at++] = kHex[(bits >> (4 * i)) & 0xF];
  };
  put(hi >> 32, 8);
  ++at;
  put((hi >> 16) & 0xFFFF, 4);
  ++at;
  put(hi & 0xFFFF, 4);
  ++at;
  put(lo >> 48, 4);
  ++at;
  put(lo & 0xFFFFFFFFFFFFULL, 12);
  return id;
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace es::bus
