#include "store_service/sqlite_event_storage.h"

#include <sqlite3.h>

#include <algorithm>

#include "store_service/append_batch.h"

namespace es::store {
namespace {

// Every query that returns events selects these columns in this order.
constexpr char kEventColumns[] =
    "position, stream_id, stream_version, event_id, type, data, recorded_at_us, command_id";

std::string_view ColumnText(sqlite3_stmt* statement, int column) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, column));
  int size = sqlite3_column_bytes(statement, column);
  return text == nullptr ? std::string_view() : std::string_view(text, size);
}

std::string_view ColumnBlob(sqlite3_stmt* statement, int column) {
  const auto* blob = static_cast<const char*>(sqlite3_column_blob(statement, column));
  int size = sqlite3_column_bytes(statement, column);
  return blob == nullptr ? std::string_view() : std::string_view(blob, size);
}

// Reads the current row of a statement that selects kEventColumns.
void ReadEventRow(sqlite3_stmt* statement, es::v1::EventRecord* record) {
  // protobuf 3.21 setters take (pointer, size), not string_view.
  std::string_view stream_id = ColumnText(statement, 1);
  std::string_view event_id = ColumnText(statement, 3);
  std::string_view type = ColumnText(statement, 4);
  std::string_view data = ColumnBlob(statement, 5);
  std::string_view command_id = ColumnText(statement, 7);
  record->set_global_position(static_cast<uint64_t>(sqlite3_column_int64(statement, 0)));
  record->set_stream_id(stream_id.data(), stream_id.size());
  record->set_stream_version(static_cast<uint64_t>(sqlite3_column_int64(statement, 2)));
  record->set_event_id(event_id.data(), event_id.size());
  record->set_type(type.data(), type.size());
  record->set_data(data.data(), data.size());
  record->set_recorded_at_us(sqlite3_column_int64(statement, 6));
  record->set_command_id(command_id.data(), command_id.size());
}

void BindText(sqlite3_stmt* statement, int index, std::string_view text) {
  // SQLITE_STATIC: the request outlives the statement's step.
  sqlite3_bind_text(statement, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

}  // namespace

void SqliteEventStorage::DatabaseCloser::operator()(sqlite3* db) const { sqlite3_close(db); }

void SqliteEventStorage::StatementFinalizer::operator()(sqlite3_stmt* statement) const {
  sqlite3_finalize(statement);
}

SqliteEventStorage::SqliteEventStorage(SqliteStorageOptions options)
    : options_(std::move(options)) {}

SqliteEventStorage::~SqliteEventStorage() = default;

Status SqliteEventStorage::Failure(int rc, std::string_view doing) const {
  std::string message(doing);
  message += ": ";
  // The connection's message is more precise (it names the file or
  // constraint) when it describes this error.
  message += db_ != nullptr && sqlite3_errcode(db_.get()) == rc ? sqlite3_errmsg(db_.get())
                                                                : sqlite3_errstr(rc);
  if ((rc & 0xff) == SQLITE_BUSY) message += " (is another store using this database?)";
  es::v1::ErrorCode code = (rc & 0xff) == SQLITE_FULL ? es::v1::ERROR_CODE_STORAGE_FULL
                                                      : es::v1::ERROR_CODE_STORAGE_FAILURE;
  return Status(code, std::move(message));
}

Status SqliteEventStorage::Execute(const char* sql) {
  int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Failure(rc, std::string("running '") + sql + "'");
  return Status::Ok();
}

Status SqliteEventStorage::Prepare(const char* sql, StatementPtr* statement) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  statement->reset(raw);
  if (rc != SQLITE_OK) return Failure(rc, std::string("preparing '") + sql + "'");
  return Status::Ok();
}

Status SqliteEventStorage::Step(sqlite3_stmt* statement, std::string_view doing) {
  int rc = sqlite3_step(statement);
  Status status = rc == SQLITE_DONE || rc == SQLITE_ROW ? Status::Ok() : Failure(rc, doing);
  sqlite3_reset(statement);
  return status;
}

Status SqliteEventStorage::Open() {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(options_.path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  db_.reset(raw);  // closed even when the open failed
  if (rc != SQLITE_OK) return Failure(rc, "opening " + options_.path);
  sqlite3_extended_result_codes(db_.get(), 1);

  // EXCLUSIVE before WAL: the WAL index then lives in process memory, and
  // the lock taken below is kept for the life of the connection.
  if (Status s = Execute("PRAGMA locking_mode=EXCLUSIVE"); !s.ok()) return s;
  std::string journal_mode;
  rc = sqlite3_exec(
      db_.get(), "PRAGMA journal_mode=WAL",
      [](void* out, int, char** values, char**) {
        *static_cast<std::string*>(out) = values[0] != nullptr ? values[0] : "";
        return 0;
      },
      &journal_mode, nullptr);
  if (rc != SQLITE_OK) return Failure(rc, "setting journal_mode=WAL on " + options_.path);
  if (journal_mode != "wal") {
    return Status(es::v1::ERROR_CODE_STORAGE_FAILURE,
                  "journal_mode=WAL refused on " + options_.path + " (got " + journal_mode + ")");
  }
  // FULL: a commit is on disk when COMMIT returns (durable before visible).
  if (Status s = Execute("PRAGMA synchronous=FULL"); !s.ok()) return s;
  if (options_.max_page_count != 0) {
    std::string pragma = "PRAGMA max_page_count=" + std::to_string(options_.max_page_count);
    if (Status s = Execute(pragma.c_str()); !s.ok()) return s;
  }
  if (Status s = Execute("CREATE TABLE IF NOT EXISTS events ("
                         "position INTEGER PRIMARY KEY, "
                         "stream_id TEXT NOT NULL, "
                         "stream_version INTEGER NOT NULL, "
                         "event_id TEXT NOT NULL, "
                         "type TEXT NOT NULL, "
                         "data BLOB NOT NULL, "
                         "recorded_at_us INTEGER NOT NULL, "
                         "command_id TEXT NOT NULL)");
      !s.ok()) {
    return s;
  }
  // Take the write lock now, so a second store on this database fails at
  // start-up rather than at its first append.
  if (Status s = Execute("BEGIN EXCLUSIVE; COMMIT"); !s.ok()) return s;

  const std::string select_at_position =
      std::string("SELECT ") + kEventColumns + " FROM events WHERE position = ?1";
  const std::string select_range =
      std::string("SELECT ") + kEventColumns +
      " FROM events WHERE position BETWEEN ?1 AND ?2 ORDER BY position";
  for (auto [sql, statement] : {
           std::pair<const char*, StatementPtr*>{"BEGIN", &begin_},
           {"COMMIT", &commit_},
           {"ROLLBACK", &rollback_},
           {"INSERT INTO events (position, stream_id, stream_version, event_id, type, data, "
            "recorded_at_us, command_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            &insert_},
           {select_at_position.c_str(), &select_at_position_},
           {select_range.c_str(), &select_range_},
       }) {
    if (Status s = Prepare(sql, statement); !s.ok()) return s;
  }
  if (Status s = RebuildIndex(); !s.ok()) return s;
  usable_ = true;
  return Status::Ok();
}

Status SqliteEventStorage::RebuildIndex() {
  StatementPtr scan;
  if (Status s = Prepare("SELECT position, stream_id, stream_version, command_id FROM events "
                         "ORDER BY position",
                         &scan);
      !s.ok()) {
    return s;
  }
  int rc;
  while ((rc = sqlite3_step(scan.get())) == SQLITE_ROW) {
    Status s = index_.AddRecovered(
        static_cast<uint64_t>(sqlite3_column_int64(scan.get(), 0)), ColumnText(scan.get(), 1),
        static_cast<uint64_t>(sqlite3_column_int64(scan.get(), 2)), ColumnText(scan.get(), 3));
    if (!s.ok()) return Status(s.code(), options_.path + ": " + s.message());
  }
  if (rc != SQLITE_DONE) return Failure(rc, "scanning " + options_.path);
  return Status::Ok();
}

std::vector<AppendOutcome> SqliteEventStorage::Append(
    std::span<const es::v1::AppendRequest* const> batch, int64_t recorded_at_us) {
  // Accepted appends are inserted as the batch is planned, inside one
  // transaction that the first of them begins.
  class Inserter final : public BatchWriter {
   public:
    Inserter(SqliteEventStorage& storage, int64_t recorded_at_us)
        : storage_(storage), recorded_at_us_(recorded_at_us) {}
    Status Begin() override {
      Status s = storage_.Step(storage_.begin_.get(), "beginning a transaction");
      transaction_open = s.ok();
      return s;
    }
    Status Place(const es::v1::AppendRequest& request,
                 const es::v1::AppendResult& placed) override {
      return storage_.InsertEvents(request, placed, recorded_at_us_);
    }
    bool transaction_open = false;

   private:
    SqliteEventStorage& storage_;
    int64_t recorded_at_us_;
  };

  Status precondition;
  if (!usable_) {
    precondition = Status(es::v1::ERROR_CODE_STORAGE_FAILURE,
                          "the database is unusable after an earlier failure; restart the store");
  }
  Inserter inserter(*this, recorded_at_us);
  PlannedBatch plan = PlanBatch(index_, options_.limits, batch, std::move(precondition), inserter);
  Status commit = plan.failure;
  if (commit.ok() && inserter.transaction_open) commit = Step(commit_.get(), "committing");
  if (!commit.ok() && inserter.transaction_open) AbandonTransaction();
  return FinishBatch(index_, std::move(plan), commit);
}

Status SqliteEventStorage::InsertEvents(const es::v1::AppendRequest& request,
                                        const es::v1::AppendResult& placed,
                                        int64_t recorded_at_us) {
  sqlite3_stmt* insert = insert_.get();
  for (int i = 0; i < request.events_size(); ++i) {
    const es::v1::NewEvent& event = request.events(i);
    sqlite3_bind_int64(insert, 1, static_cast<int64_t>(placed.first_position() + i));
    BindText(insert, 2, request.stream_id());
    sqlite3_bind_int64(insert, 3, static_cast<int64_t>(placed.first_version() + i));
    BindText(insert, 4, event.event_id());
    BindText(insert, 5, event.type());
    // A std::string's data() is never null, so empty data binds as an empty
    // blob rather than NULL.
    sqlite3_bind_blob(insert, 6, event.data().data(), static_cast<int>(event.data().size()),
                      SQLITE_STATIC);
    sqlite3_bind_int64(insert, 7, recorded_at_us);
    BindText(insert, 8, request.command_id());
    if (Status s = Step(insert, "inserting an event"); !s.ok()) return s;
  }
  return Status::Ok();
}

void SqliteEventStorage::AbandonTransaction() {
  // Some errors (SQLITE_FULL during COMMIT, for one) already rolled back.
  if (!sqlite3_get_autocommit(db_.get())) {
    if (!Step(rollback_.get(), "rolling back").ok()) usable_ = false;
  }
}

Status SqliteEventStorage::ReadStream(std::string_view stream_id, uint64_t from_version,
                                      const ReadLimits& limits, es::v1::ReadStreamResult* result) {
  result->Clear();
  result->set_stream_id(stream_id.data(), stream_id.size());
  const std::vector<uint64_t>* positions = index_.StreamPositions(stream_id);
  const uint64_t stream_version = positions == nullptr ? 0 : positions->size();
  result->set_stream_version(stream_version);
  sqlite3_stmt* select = select_at_position_.get();
  size_t bytes = 0;
  uint64_t version = std::max<uint64_t>(from_version, 1);
  for (;
       version <= stream_version && static_cast<uint32_t>(result->events_size()) < limits.max_count;
       ++version) {
    sqlite3_bind_int64(select, 1, static_cast<int64_t>((*positions)[version - 1]));
    int rc = sqlite3_step(select);
    if (rc != SQLITE_ROW) {
      Status failure = Failure(rc == SQLITE_DONE ? SQLITE_CORRUPT : rc,
                               "reading version " + std::to_string(version) + " of stream '" +
                                   std::string(stream_id) + "'");
      sqlite3_reset(select);
      return failure;
    }
    es::v1::EventRecord record;
    ReadEventRow(select, &record);
    sqlite3_reset(select);
    const size_t size = RecordSize(record);
    if (result->events_size() > 0 && bytes + size > limits.max_bytes) break;
    bytes += size;
    *result->add_events() = std::move(record);
  }
  result->set_end_of_stream(version > stream_version);
  return Status::Ok();
}

Status SqliteEventStorage::ReadAll(uint64_t from_position, std::string_view stream_prefix,
                                   const ReadLimits& limits, es::v1::ReadAllResult* result) {
  const std::optional<PositionRange> range =
      StartReadAll(index_.head(), from_position, limits, result);
  if (!range) return Status::Ok();
  const auto [from, last] = *range;
  sqlite3_stmt* select = select_range_.get();
  sqlite3_bind_int64(select, 1, static_cast<int64_t>(from));
  sqlite3_bind_int64(select, 2, static_cast<int64_t>(last));
  uint64_t scanned_through = from - 1;
  size_t bytes = 0;
  int rc;
  while ((rc = sqlite3_step(select)) == SQLITE_ROW) {
    const auto position = static_cast<uint64_t>(sqlite3_column_int64(select, 0));
    if (!ColumnText(select, 1).starts_with(stream_prefix)) {
      scanned_through = position;
      continue;
    }
    es::v1::EventRecord record;
    ReadEventRow(select, &record);
    const size_t size = RecordSize(record);
    if (result->events_size() > 0 && bytes + size > limits.max_bytes) break;
    bytes += size;
    *result->add_events() = std::move(record);
    scanned_through = position;
    if (static_cast<uint32_t>(result->events_size()) == limits.max_count) break;
  }
  Status status = Status::Ok();
  if (rc == SQLITE_DONE) {
    scanned_through = last;
  } else if (rc != SQLITE_ROW) {
    status = Failure(rc, "reading the log from position " + std::to_string(from));
  }
  sqlite3_reset(select);
  result->set_scanned_through(scanned_through);
  return status;
}

}  // namespace es::store
