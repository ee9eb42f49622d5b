// EventStorage on SQLite, used only as the ordered, crash-safe log: one
// table keyed by global position. The stream and command-id indexes live in
// memory (LogIndex) and are rebuilt by one scan at Open — indexes inside
// SQLite cost ~3x in append throughput (see shared/MEASUREMENTS.md).
//
// Durability: WAL journal with synchronous=FULL, so Append returns only
// after its transaction is on disk. The database is opened with an
// exclusive lock: one storage owns a database at a time, and so owns the
// global positions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "store_service/append_validation.h"
#include "store_service/event_storage.h"
#include "store_service/log_index.h"

struct sqlite3;
struct sqlite3_stmt;

namespace es::store {

struct SqliteStorageOptions {
  // The database file; created if missing (its directory must exist).
  std::string path;
  AppendLimits limits;
  // Caps the database at this many pages (PRAGMA max_page_count), which
  // makes SQLite report a full disk: a fault-injection hook for tests.
  // 0 = no cap.
  uint32_t max_page_count = 0;
};

class SqliteEventStorage final : public EventStorage {
 public:
  explicit SqliteEventStorage(SqliteStorageOptions options);
  ~SqliteEventStorage() override;

  SqliteEventStorage(const SqliteEventStorage&) = delete;
  SqliteEventStorage& operator=(const SqliteEventStorage&) = delete;

  Status Open() override;
  std::vector<AppendOutcome> Append(std::span<const es::v1::AppendRequest* const> batch,
                                    int64_t recorded_at_us) override;
  Status ReadStream(std::string_view stream_id, uint64_t from_version, const ReadLimits& limits,
                    es::v1::ReadStreamResult* result) override;
  Status ReadAll(uint64_t from_position, std::string_view stream_prefix, const ReadLimits& limits,
                 es::v1::ReadAllResult* result) override;
  uint64_t Head() const override { return index_.head(); }
  uint64_t StreamVersion(std::string_view stream_id) const override {
    return index_.StreamVersion(stream_id);
  }
  uint64_t StreamCount() const override { return index_.stream_count(); }
  void ListStreams(std::string_view prefix, std::string_view after, uint32_t max_count,
                   es::v1::ListStreamsResult* result) const override {
    index_.ListStreams(prefix, after, max_count, index_.head(), result);
  }
  std::optional<es::v1::AppendResult> FindCommand(std::string_view command_id) const override {
    return index_.FindCommand(command_id);
  }
  std::string_view EngineName() const override { return "sqlite"; }

 private:
  struct DatabaseCloser {
    void operator()(sqlite3* db) const;
  };
  struct StatementFinalizer {
    void operator()(sqlite3_stmt* statement) const;
  };
  using StatementPtr = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

  // A Status for the SQLite result code `rc`, saying what was being done.
  Status Failure(int rc, std::string_view doing) const;
  Status Execute(const char* sql);
  Status Prepare(const char* sql, StatementPtr* statement);
  // Runs a statement that returns no rows, then resets it.
  Status Step(sqlite3_stmt* statement, std::string_view doing);
  Status RebuildIndex();
  Status InsertEvents(const es::v1::AppendRequest& request, const es::v1::AppendResult& placed,
                      int64_t recorded_at_us);
  // Ends a failed transaction (the index is undone by FinishBatch).
  void AbandonTransaction();

  SqliteStorageOptions options_;
  // Declared before the statements, so they are finalized before it closes.
  std::unique_ptr<sqlite3, DatabaseCloser> db_;
  StatementPtr begin_;
  StatementPtr commit_;
  StatementPtr rollback_;
  StatementPtr insert_;
  StatementPtr select_at_position_;
  StatementPtr select_range_;
  LogIndex index_;
  // False after a failure that left the database in an unknown state (a
  // rollback that failed): every later append fails rather than guess.
  bool usable_ = false;
};

}  // namespace es::store
