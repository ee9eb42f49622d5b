// The storage engines the store tests run against, made the same way for
// every test: an engine (the parameter of a TEST_P), settings, and a temp
// dir whose files it owns. Also a LogFileIo that fails on purpose (a full
// disk part-way through a write, a failing fdatasync) for the log engine.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>

#include "store_service/event_storage.h"
#include "store_service/log_event_storage.h"
#include "store_service/sqlite_event_storage.h"
#include "tests/support/temp_dir.h"

namespace es::testing {

enum class Engine { kSqlite, kLog };

// The --engine value.
inline std::string EngineFlag(Engine engine) {
  return engine == Engine::kSqlite ? "sqlite" : "log";
}

// For INSTANTIATE_TEST_SUITE_P: "Sqlite" or "Log".
inline std::string EngineTestName(const ::testing::TestParamInfo<Engine>& info) {
  return info.param == Engine::kSqlite ? "Sqlite" : "Log";
}

// Segment-file calls that fail on purpose. Safe to change between appends
// from the test's thread (the engine calls it from its writer thread).
class FaultyLogFileIo : public es::store::LogFileIo {
 public:
  // A write that would take a file past this many bytes writes what fits,
  // then fails with ENOSPC, as a full disk does. 0 = no limit.
  std::atomic<uint64_t> file_limit_bytes{0};
  // The next this many Sync calls fail with EIO (without syncing).
  std::atomic<int> failing_syncs{0};
  // The next this many Write calls fail with ENOSPC before writing.
  std::atomic<int> full_writes{0};
  std::atomic<int> syncs{0};

  ssize_t Write(int fd, const char* data, size_t size, uint64_t offset) override {
    if (full_writes.load() > 0) {
      --full_writes;
      errno = ENOSPC;
      return -1;
    }
    const uint64_t limit = file_limit_bytes.load();
    if (limit != 0 && offset + size > limit) {
      if (offset >= limit) {
        errno = ENOSPC;
        return -1;
      }
      size = static_cast<size_t>(limit - offset);  // a short write, then ENOSPC
    }
    return LogFileIo::Write(fd, data, size, offset);
  }

  int Sync(int fd) override {
    ++syncs;
    if (failing_syncs.load() > 0) {
      --failing_syncs;
      errno = EIO;
      return -1;
    }
    return LogFileIo::Sync(fd);
  }
};

struct EngineSettings {
  es::store::AppendLimits limits;
  // Makes the engine's files fill up past about this many bytes (SQLite:
  // max_page_count; log: FaultyLogFileIo::file_limit_bytes). 0 = no limit.
  uint64_t disk_limit_bytes = 0;
  // Log engine only.
  uint64_t segment_bytes = uint64_t{256} << 20;
  std::shared_ptr<es::store::LogFileIo> io;  // null = the real calls (or a
                                             // limited one for disk_limit_bytes)
};

// The log engine's directory in `dir`.
inline std::string LogDirectory(const TempDir& dir) { return dir.File("log"); }

inline es::store::LogStorageOptions LogOptions(const TempDir& dir, const EngineSettings& settings) {
  es::store::LogStorageOptions options;
  options.directory = LogDirectory(dir);
  options.limits = settings.limits;
  options.segment_bytes = settings.segment_bytes;
  options.io = settings.io;
  if (options.io == nullptr && settings.disk_limit_bytes != 0) {
    auto io = std::make_shared<FaultyLogFileIo>();
    io->file_limit_bytes = settings.disk_limit_bytes;
    options.io = io;
  }
  return options;
}

inline std::unique_ptr<es::store::EventStorage> MakeStorage(Engine engine, const TempDir& dir,
                                                            const EngineSettings& settings) {
  if (engine == Engine::kLog) {
    return std::make_unique<es::store::LogEventStorage>(LogOptions(dir, settings));
  }
  es::store::SqliteStorageOptions options;
  options.path = dir.File("events.db");
  options.limits = settings.limits;
  options.max_page_count = static_cast<uint32_t>(settings.disk_limit_bytes / 4096);
  return std::make_unique<es::store::SqliteEventStorage>(options);
}

}  // namespace es::testing
