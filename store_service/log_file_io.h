// The calls the log engine makes to write and sync its segment files,
// behind an interface so that tests can make them fail at a chosen moment
// (a full disk part-way through a batch, a failed fdatasync). The default
// is the real system calls.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace es::store {

class LogFileIo {
 public:
  virtual ~LogFileIo() = default;
  // pwrite(2): the bytes written (possibly fewer than `size`), or -1 with
  // errno set.
  virtual ssize_t Write(int fd, const char* data, size_t size, uint64_t offset);
  // fdatasync(2): 0, or -1 with errno set.
  virtual int Sync(int fd);
  // ftruncate(2): 0, or -1 with errno set.
  virtual int Truncate(int fd, uint64_t size);
};

}  // namespace es::store
