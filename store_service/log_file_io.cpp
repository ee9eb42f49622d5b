#include "store_service/log_file_io.h"

#include <unistd.h>

namespace es::store {

ssize_t LogFileIo::Write(int fd, const char* data, size_t size, uint64_t offset) {
  return ::pwrite(fd, data, size, static_cast<off_t>(offset));
}

int LogFileIo::Sync(int fd) { return ::fdatasync(fd); }

int LogFileIo::Truncate(int fd, uint64_t size) { return ::ftruncate(fd, static_cast<off_t>(size)); }

}  // namespace es::store
