#include "query_service/projection.h"

#include <sqlite3.h>

#include <algorithm>
#include <climits>
#include <type_traits>
#include <variant>

#include "domain/account.h"
#include "domain/event_codec.h"
#include "domain/stream_ids.h"

namespace es::query {
namespace {

constexpr uint32_t kDefaultLimit = 100;
constexpr uint32_t kMaxLimit = 1000;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS checkpoint(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS totals(
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS accounts(
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  balance INTEGER NOT NULL,
  closed INTEGER NOT NULL,
  transfers_out INTEGER NOT NULL,
  corrupt TEXT NOT NULL,
  version INTEGER NOT NULL,
  opened_position INTEGER NOT NULL,
  opened_at_us INTEGER NOT NULL,
  last_position INTEGER NOT NULL,
  last_at_us INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS accounts_by_balance ON accounts(balance DESC, id);
CREATE INDEX IF NOT EXISTS accounts_by_owner ON accounts(owner, id);
CREATE INDEX IF NOT EXISTS accounts_by_opened ON accounts(opened_position);
CREATE TABLE IF NOT EXISTS movements(
  account_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  stream_version INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  amount INTEGER NOT NULL,
  balance_after INTEGER NOT NULL,
  transfer_id TEXT NOT NULL,
  at_us INTEGER NOT NULL,
  PRIMARY KEY (account_id, position)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS transfers(
  id TEXT PRIMARY KEY,
  from_account TEXT NOT NULL,
  to_account TEXT NOT NULL,
  amount INTEGER NOT NULL,
  state INTEGER NOT NULL,
  failure_reason TEXT NOT NULL,
  version INTEGER NOT NULL,
  created_position INTEGER NOT NULL,
  created_at_us INTEGER NOT NULL,
  finished_at_us INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS transfers_by_created ON transfers(created_position);
CREATE INDEX IF NOT EXISTS transfers_by_from ON transfers(from_account, created_position);
CREATE INDEX IF NOT EXISTS transfers_by_to ON transfers(to_account, created_position);
CREATE INDEX IF NOT EXISTS transfers_by_state ON transfers(state, created_position);
)sql";

// ---- small SQLite helpers ----

[[noreturn]] void Throw(sqlite3* db, const std::string& what) {
  throw std::runtime_error(what + ": " + sqlite3_errmsg(db));
}

// Resets a prepared statement when the scope ends, so the next use starts
// clean whatever happened.
struct Reset {
  sqlite3_stmt* statement;
  ~Reset() {
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
  }
};

void BindText(sqlite3_stmt* s, int index, std::string_view text) {
  sqlite3_bind_text(s, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}
void BindInt(sqlite3_stmt* s, int index, int64_t value) { sqlite3_bind_int64(s, index, value); }

std::string ColumnText(sqlite3_stmt* s, int column) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, column));
  return text == nullptr ? std::string() : std::string(text, sqlite3_column_bytes(s, column));
}
int64_t ColumnInt(sqlite3_stmt* s, int column) { return sqlite3_column_int64(s, column); }

// Steps a statement that returns no rows.
void StepDone(sqlite3* db, sqlite3_stmt* s, const char* what) {
  if (sqlite3_step(s) != SQLITE_DONE) Throw(db, what);
}

std::string Int128ToString(__int128 value) {
  if (value == 0) return "0";
  const bool negative = value < 0;
  unsigned __int128 magnitude = negative ? static_cast<unsigned __int128>(-(value + 1)) + 1
                                         : static_cast<unsigned __int128>(value);
  std::string digits;
  while (magnitude > 0) {
    digits += static_cast<char>('0' + static_cast<int>(magnitude % 10));
    magnitude /= 10;
  }
  if (negative) digits += '-';
  std::reverse(digits.begin(), digits.end());
  return digits;
}

bool StringToInt128(const std::string& text, __int128* out) {
  if (text.empty()) return false;
  size_t i = text[0] == '-' ? 1 : 0;
  if (i == text.size() || text.size() > 41) return false;
  __int128 value = 0;
  for (; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    value = value * 10 + (text[i] - '0');
  }
  *out = text[0] == '-' ? -value : value;
  return true;
}

int64_t Clamp(__int128 value, bool* clamped) {
  if (value > INT64_MAX) {
    *clamped = true;
    return INT64_MAX;
  }
  if (value < INT64_MIN) {
    *clamped = true;
    return INT64_MIN;
  }
  return static_cast<int64_t>(value);
}

uint32_t PageLimit(uint32_t asked) {
  if (asked == 0) return kDefaultLimit;
  return std::min(asked, kMaxLimit);
}

// Cursors: "<tag>\x1f<key>\x1f<id>", opaque to callers.
constexpr char kSep = '\x1f';

std::string MakeCursor(const std::string& tag, const std::string& key, const std::string& id) {
  return tag + kSep + key + kSep + id;
}

struct Cursor {
  std::string key;
  std::string id;
};

// The cursor's key and id; throws BadQuery if it is not one of `tag`'s.
Cursor ParseCursor(const std::string& cursor, const std::string& tag) {
  const size_t first = cursor.find(kSep);
  const size_t second = first == std::string::npos ? first : cursor.find(kSep, first + 1);
  if (second == std::string::npos || cursor.substr(0, first) != tag) {
    throw BadQuery("the cursor is not one of this query's (same kind, sort and filters)");
  }
  return Cursor{cursor.substr(first + 1, second - first - 1), cursor.substr(second + 1)};
}

int64_t CursorNumber(const std::string& key) {
  try {
    size_t used = 0;
    long long value = std::stoll(key, &used);
    if (used != key.size()) throw BadQuery("the cursor is damaged");
    return value;
  } catch (const std::logic_error&) {
    throw BadQuery("the cursor is damaged");
  }
}

// What an account event means for its account's movements and the totals.
struct MovementOf {
  es::v1::MovementKind kind = es::v1::MOVEMENT_KIND_UNSPECIFIED;
  int64_t amount = 0;
  std::string transfer_id;
  bool has_balance = true;  // false: the event names no balance (balance_after 0)
};

template <typename Event>
MovementOf DescribeMovement(const Event& e) {
  using es::v1::MovementKind;
  if constexpr (std::is_same_v<Event, es::v1::AccountOpened>) {
    return {es::v1::MOVEMENT_KIND_OPENED, e.initial_balance(), "", true};
  } else if constexpr (std::is_same_v<Event, es::v1::AccountCredited>) {
    return {es::v1::MOVEMENT_KIND_CREDIT, e.amount(), "", true};
  } else if constexpr (std::is_same_v<Event, es::v1::AccountDebited>) {
    return {es::v1::MOVEMENT_KIND_DEBIT, e.amount(), "", true};
  } else if constexpr (std::is_same_v<Event, es::v1::AccountDebitFailed>) {
    return {es::v1::MOVEMENT_KIND_DEBIT_REFUSED, e.amount(), "", true};
  } else if constexpr (std::is_same_v<Event, es::v1::AccountDebitedBecauseOfMoneyTransfer>) {
    return {es::v1::MOVEMENT_KIND_TRANSFER_DEBIT, e.amount(), e.transfer_id(), true};
  } else if constexpr (std::is_same_v<Event, es::v1::AccountCreditedBecauseOfMoneyTransfer>) {
    return {es::v1::MOVEMENT_KIND_TRANSFER_CREDIT, e.amount(), e.transfer_id(), true};
  } else if constexpr (std::is_same_v<Event, es::v1::AccountDebitBecauseOfMoneyTransferFailed>) {
    return {es::v1::MOVEMENT_KIND_TRANSFER_DEBIT_REFUSED, e.amount(), e.transfer_id(), true};
  } else if constexpr (std::is_same_v<Event, es::v1::AccountCreditBecauseOfMoneyTransferFailed>) {
    return {es::v1::MOVEMENT_KIND_TRANSFER_CREDIT_REFUSED, e.amount(), e.transfer_id(), false};
  } else if constexpr (std::is_same_v<Event, es::v1::AccountRefundedBecauseOfMoneyTransfer>) {
    return {es::v1::MOVEMENT_KIND_REFUND, e.amount(), e.transfer_id(), true};
  } else {
    static_assert(std::is_same_v<Event, es::v1::AccountClosed>);
    return {es::v1::MOVEMENT_KIND_CLOSED, 0, "", true};
  }
}

const char* const kTotalNames[] = {"accounts_open",     "accounts_closed",   "money_in_accounts",
                                   "money_in_flight",   "money_deposited",   "money_withdrawn",
                                   "transfers_created", "transfers_debited", "transfers_completed",
                                   "transfers_failed"};

}  // namespace

Projection::Projection(const std::string& path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("cannot open " + path + ": " + message);
  }
  try {
    sqlite3_busy_timeout(db_, 5000);
    Exec("PRAGMA journal_mode=WAL");
    // A projection is derived data: a commit lost to a power cut is only
    // applied again (the checkpoint goes back with the rows). A kill -9
    // loses nothing: the WAL is in the kernel's cache.
    Exec("PRAGMA synchronous=NORMAL");
    Exec(kSchema);
    LoadState();
  } catch (...) {
    for (auto& [sql, statement] : statements_) sqlite3_finalize(statement);
    sqlite3_close(db_);
    throw;
  }
}

Projection::~Projection() {
  if (in_transaction_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  for (auto& [sql, statement] : statements_) sqlite3_finalize(statement);
  sqlite3_close(db_);
}

void Projection::Exec(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    throw std::runtime_error(std::string("SQLite: ") + message + " in: " + sql);
  }
}

sqlite3_stmt* Projection::Prepared(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return it->second;
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &statement, nullptr) != SQLITE_OK) {
    Throw(db_, "cannot prepare " + sql);
  }
  statements_.emplace(sql, statement);
  return statement;
}

void Projection::LoadState() {
  {
    sqlite3_stmt* s = Prepared("SELECT position FROM checkpoint WHERE id = 1");
    Reset reset{s};
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      const int64_t position = ColumnInt(s, 0);
      if (position < 0) throw std::runtime_error("the checkpoint is negative");
      position_ = static_cast<uint64_t>(position);
    } else if (rc != SQLITE_DONE) {
      Throw(db_, "cannot read the checkpoint");
    }
  }
  sqlite3_stmt* s = Prepared("SELECT name, value FROM totals");
  Reset reset{s};
  TotalsState totals;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const std::string name = ColumnText(s, 0);
    __int128 value = 0;
    if (!StringToInt128(ColumnText(s, 1), &value)) {
      throw std::runtime_error("the total " + name + " is not a number");
    }
    if (name == "accounts_open") totals.accounts_open = static_cast<uint64_t>(value);
    if (name == "accounts_closed") totals.accounts_closed = static_cast<uint64_t>(value);
    if (name == "money_in_accounts") totals.money_in_accounts = value;
    if (name == "money_in_flight") totals.money_in_flight = value;
    if (name == "money_deposited") totals.money_deposited = value;
    if (name == "money_withdrawn") totals.money_withdrawn = value;
    for (int state = 1; state <= 4; ++state) {
      if (name == kTotalNames[5 + state]) {
        totals.transfers_by_state[state] = static_cast<uint64_t>(value);
      }
    }
  }
  if (rc != SQLITE_DONE) Throw(db_, "cannot read the totals");
  committed_totals_ = pending_totals_ = totals;
  pending_position_ = position_;
}

void Projection::Begin() {
  if (in_transaction_) return;
  Exec("BEGIN IMMEDIATE");
  in_transaction_ = true;
  pending_position_ = position_;
  pending_totals_ = committed_totals_;
}

void Projection::Commit() {
  if (!in_transaction_) return;
  try {
    {
      sqlite3_stmt* s = Prepared(
          "INSERT INTO checkpoint(id, position) VALUES (1, ?1) "
          "ON CONFLICT(id) DO UPDATE SET position = excluded.position");
      Reset reset{s};
      BindInt(s, 1, static_cast<int64_t>(pending_position_));
      StepDone(db_, s, "cannot write the checkpoint");
    }
    const TotalsState& t = pending_totals_;
    const __int128 values[] = {t.accounts_open,         t.accounts_closed,
                               t.money_in_accounts,     t.money_in_flight,
                               t.money_deposited,       t.money_withdrawn,
                               t.transfers_by_state[1], t.transfers_by_state[2],
                               t.transfers_by_state[3], t.transfers_by_state[4]};
    sqlite3_stmt* s = Prepared(
        "INSERT INTO totals(name, value) VALUES (?1, ?2) "
        "ON CONFLICT(name) DO UPDATE SET value = excluded.value");
    for (size_t i = 0; i < std::size(kTotalNames); ++i) {
      Reset reset{s};
      BindText(s, 1, kTotalNames[i]);
      BindText(s, 2, Int128ToString(values[i]));
      StepDone(db_, s, "cannot write the totals");
    }
    Exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    in_transaction_ = false;
    pending_position_ = position_;
    pending_totals_ = committed_totals_;
    throw;
  }
  in_transaction_ = false;
  position_ = pending_position_;
  committed_totals_ = pending_totals_;
}

Projection::Applied Projection::Apply(const es::v1::EventRecord& event) {
  if (!in_transaction_) throw std::logic_error("Projection::Apply outside a transaction");
  if (event.global_position() <= pending_position_) return Applied::kAlreadyApplied;
  if (event.global_position() != pending_position_ + 1) return Applied::kNotNext;
  pending_position_ = event.global_position();

  const std::string& stream = event.stream_id();
  const bool account_stream = stream.starts_with(es::domain::kAccountStreamPrefix);
  const bool transfer_stream = stream.starts_with(es::domain::kTransferStreamPrefix);
  if (!account_stream && !transfer_stream) return Applied::kIgnored;
  const std::string id = stream.substr(account_stream ? es::domain::kAccountStreamPrefix.size()
                                                      : es::domain::kTransferStreamPrefix.size());
  std::optional<es::domain::DomainEvent> decoded =
      es::domain::DecodeEvent(event.type(), event.data());
  if (!decoded) {
    // CommandAnswered and the like: a version of the stream, nothing else.
    BumpVersion(account_stream ? "accounts" : "transfers", id, event.stream_version());
    return Applied::kIgnored;
  }
  const bool is_account_event = decoded->index() < std::variant_size_v<es::domain::AccountEvent>;
  if (account_stream && is_account_event) {
    ApplyAccountEvent(event, id, &*decoded);
  } else if (transfer_stream && !is_account_event) {
    ApplyTransferEvent(event, &*decoded);
  } else {
    // An event of the other aggregate in this stream: not this stream's
    // state, but one of its versions.
    BumpVersion(account_stream ? "accounts" : "transfers", id, event.stream_version());
    return Applied::kIgnored;
  }
  return Applied::kApplied;
}

void Projection::BumpVersion(const char* table, const std::string& id, uint64_t version) {
  sqlite3_stmt* s = Prepared(std::string("UPDATE ") + table + " SET version = ?2 WHERE id = ?1");
  Reset reset{s};
  BindText(s, 1, id);
  BindInt(s, 2, static_cast<int64_t>(version));
  StepDone(db_, s, "cannot update a version");
}

void Projection::ApplyAccountEvent(const es::v1::EventRecord& record, const std::string& account_id,
                                   const void* domain_event) {
  const auto& event = *static_cast<const es::domain::DomainEvent*>(domain_event);
  es::domain::AccountState before;
  bool existed = false;
  {
    sqlite3_stmt* s = Prepared(
        "SELECT owner, balance, closed, transfers_out, corrupt, version FROM accounts WHERE id = "
        "?1");
    Reset reset{s};
    BindText(s, 1, account_id);
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      existed = true;
      before.exists = true;
      before.account_id = account_id;
      before.owner = ColumnText(s, 0);
      before.balance = ColumnInt(s, 1);
      before.closed = ColumnInt(s, 2) != 0;
      before.transfers_out = ColumnInt(s, 3);
      before.corrupt = ColumnText(s, 4);
      before.version = static_cast<uint64_t>(ColumnInt(s, 5));
    } else if (rc != SQLITE_DONE) {
      Throw(db_, "cannot read an account");
    }
  }
  es::domain::AccountState after = es::domain::EvolveAccount(before, event);
  // An event before any opening (the domain marks such a stream corrupt) has
  // no account to show.
  if (!after.exists) return;
  const bool applied = before.corrupt.empty() && after.corrupt.empty();
  const int64_t position = static_cast<int64_t>(record.global_position());
  if (!existed) {
    sqlite3_stmt* s = Prepared(
        "INSERT INTO accounts(id, owner, balance, closed, transfers_out, corrupt, version, "
        "opened_position, opened_at_us, last_position, last_at_us) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?8, ?9)");
    Reset reset{s};
    BindText(s, 1, account_id);
    BindText(s, 2, after.owner);
    BindInt(s, 3, after.balance);
    BindInt(s, 4, after.closed ? 1 : 0);
    BindInt(s, 5, after.transfers_out);
    BindText(s, 6, after.corrupt);
    BindInt(s, 7, static_cast<int64_t>(record.stream_version()));
    BindInt(s, 8, position);
    BindInt(s, 9, record.recorded_at_us());
    StepDone(db_, s, "cannot insert an account");
  } else if (applied) {
    sqlite3_stmt* s = Prepared(
        "UPDATE accounts SET balance = ?2, closed = ?3, transfers_out = ?4, version = ?5, "
        "last_position = ?6, last_at_us = ?7 WHERE id = ?1");
    Reset reset{s};
    BindText(s, 1, account_id);
    BindInt(s, 2, after.balance);
    BindInt(s, 3, after.closed ? 1 : 0);
    BindInt(s, 4, after.transfers_out);
    BindInt(s, 5, static_cast<int64_t>(record.stream_version()));
    BindInt(s, 6, position);
    BindInt(s, 7, record.recorded_at_us());
    StepDone(db_, s, "cannot update an account");
  } else {
    // The event cannot apply: the account keeps its balance and is marked
    // corrupt, as command_service marks it.
    sqlite3_stmt* s = Prepared("UPDATE accounts SET corrupt = ?2, version = ?3 WHERE id = ?1");
    Reset reset{s};
    BindText(s, 1, account_id);
    BindText(s, 2, after.corrupt);
    BindInt(s, 3, static_cast<int64_t>(record.stream_version()));
    StepDone(db_, s, "cannot update an account");
  }
  if (!applied) return;

  const MovementOf movement = std::visit(
      [](const auto& e) -> MovementOf {
        if constexpr (es::domain::AccountEventMessage<std::decay_t<decltype(e)>>) {
          return DescribeMovement(e);
        } else {
          return {};
        }
      },
      event);
  {
    sqlite3_stmt* s = Prepared(
        "INSERT INTO movements(account_id, position, stream_version, kind, amount, "
        "balance_after, transfer_id, at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    Reset reset{s};
    BindText(s, 1, account_id);
    BindInt(s, 2, position);
    BindInt(s, 3, static_cast<int64_t>(record.stream_version()));
    BindInt(s, 4, movement.kind);
    BindInt(s, 5, movement.amount);
    BindInt(s, 6, movement.has_balance ? after.balance : 0);
    BindText(s, 7, movement.transfer_id);
    BindInt(s, 8, record.recorded_at_us());
    StepDone(db_, s, "cannot insert a movement");
  }
  TotalsState& t = pending_totals_;
  t.money_in_accounts += static_cast<__int128>(after.balance) - before.balance;
  if (!existed) ++t.accounts_open;
  if (!before.closed && after.closed) {
    --t.accounts_open;
    ++t.accounts_closed;
  }
  switch (movement.kind) {
    case es::v1::MOVEMENT_KIND_OPENED:
    case es::v1::MOVEMENT_KIND_CREDIT:
      t.money_deposited += movement.amount;
      break;
    case es::v1::MOVEMENT_KIND_DEBIT:
      t.money_withdrawn += movement.amount;
      break;
    case es::v1::MOVEMENT_KIND_TRANSFER_DEBIT:
      t.money_in_flight += movement.amount;
      break;
    case es::v1::MOVEMENT_KIND_TRANSFER_CREDIT:
    case es::v1::MOVEMENT_KIND_REFUND:
      t.money_in_flight -= movement.amount;
      break;
    default:
      break;
  }
}

void Projection::ApplyTransferEvent(const es::v1::EventRecord& record, const void* domain_event) {
  const auto& event = *static_cast<const es::domain::DomainEvent*>(domain_event);
  const std::string transfer_id =
      record.stream_id().substr(es::domain::kTransferStreamPrefix.size());
  // The state this event moves the transfer to, the one it must be in, and
  // the failure reason.
  struct Step {
    es::v1::TransferState to = es::v1::TRANSFER_STATE_UNSPECIFIED;
    es::v1::TransferState from = es::v1::TRANSFER_STATE_UNSPECIFIED;
    const char* reason = "";
    const es::v1::MoneyTransferCreated* created = nullptr;
    std::string event_transfer_id;
  };
  const Step step = std::visit(
      [](const auto& e) -> Step {
        using Event = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<Event, es::v1::MoneyTransferCreated>) {
          return {es::v1::TRANSFER_STATE_CREATED, es::v1::TRANSFER_STATE_UNSPECIFIED, "", &e,
                  e.transfer_id()};
        } else if constexpr (std::is_same_v<Event, es::v1::MoneyTransferDebited>) {
          return {es::v1::TRANSFER_STATE_DEBITED, es::v1::TRANSFER_STATE_CREATED, "", nullptr,
                  e.transfer_id()};
        } else if constexpr (std::is_same_v<Event, es::v1::MoneyTransferCompleted>) {
          return {es::v1::TRANSFER_STATE_COMPLETED, es::v1::TRANSFER_STATE_DEBITED, "", nullptr,
                  e.transfer_id()};
        } else if constexpr (std::is_same_v<Event, es::v1::MoneyTransferFailedDueToLackOfFunds>) {
          return {es::v1::TRANSFER_STATE_FAILED, es::v1::TRANSFER_STATE_CREATED, "LackOfFunds",
                  nullptr, e.transfer_id()};
        } else if constexpr (std::is_same_v<Event, es::v1::MoneyTransferFailedDueToRefusedCredit>) {
          return {es::v1::TRANSFER_STATE_FAILED, es::v1::TRANSFER_STATE_DEBITED, "CreditRefused",
                  nullptr, e.transfer_id()};
        } else {
          return {};
        }
      },
      event);
  es::v1::TransferState current = es::v1::TRANSFER_STATE_UNSPECIFIED;
  {
    sqlite3_stmt* s = Prepared("SELECT state FROM transfers WHERE id = ?1");
    Reset reset{s};
    BindText(s, 1, transfer_id);
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      current = static_cast<es::v1::TransferState>(ColumnInt(s, 0));
    } else if (rc != SQLITE_DONE) {
      Throw(db_, "cannot read a transfer");
    }
  }
  // Another transfer's event, or one out of order (a raw append): a version
  // of the stream, no change of state.
  if (step.event_transfer_id != transfer_id || current != step.from ||
      step.to == es::v1::TRANSFER_STATE_UNSPECIFIED) {
    BumpVersion("transfers", transfer_id, record.stream_version());
    return;
  }
  if (step.created != nullptr) {
    sqlite3_stmt* s = Prepared(
        "INSERT INTO transfers(id, from_account, to_account, amount, state, failure_reason, "
        "version, created_position, created_at_us, finished_at_us) "
        "VALUES (?1, ?2, ?3, ?4, ?5, '', ?6, ?7, ?8, 0)");
    Reset reset{s};
    BindText(s, 1, transfer_id);
    BindText(s, 2, step.created->from_account());
    BindText(s, 3, step.created->to_account());
    BindInt(s, 4, step.created->amount());
    BindInt(s, 5, step.to);
    BindInt(s, 6, static_cast<int64_t>(record.stream_version()));
    BindInt(s, 7, static_cast<int64_t>(record.global_position()));
    BindInt(s, 8, record.recorded_at_us());
    StepDone(db_, s, "cannot insert a transfer");
  } else {
    const bool finished =
        step.to == es::v1::TRANSFER_STATE_COMPLETED || step.to == es::v1::TRANSFER_STATE_FAILED;
    sqlite3_stmt* s = Prepared(
        "UPDATE transfers SET state = ?2, failure_reason = ?3, version = ?4, "
        "finished_at_us = ?5 WHERE id = ?1");
    Reset reset{s};
    BindText(s, 1, transfer_id);
    BindInt(s, 2, step.to);
    BindText(s, 3, step.reason);
    BindInt(s, 4, static_cast<int64_t>(record.stream_version()));
    BindInt(s, 5, finished ? record.recorded_at_us() : 0);
    StepDone(db_, s, "cannot update a transfer");
  }
  if (current != es::v1::TRANSFER_STATE_UNSPECIFIED) --pending_totals_.transfers_by_state[current];
  ++pending_totals_.transfers_by_state[step.to];
}

// ---- queries ----

es::v1::AccountPage Projection::ListAccounts(const es::v1::ListAccounts& query) {
  const uint32_t limit = PageLimit(query.limit());
  std::string where;
  if (query.status() == es::v1::ACCOUNT_STATUS_OPEN) where = "closed = 0";
  if (query.status() == es::v1::ACCOUNT_STATUS_CLOSED) where = "closed = 1";
  if (query.status() != es::v1::ACCOUNT_STATUS_UNSPECIFIED &&
      query.status() != es::v1::ACCOUNT_STATUS_OPEN &&
      query.status() != es::v1::ACCOUNT_STATUS_CLOSED) {
    throw BadQuery("unknown account status " + std::to_string(query.status()));
  }
  std::string order, after;
  switch (query.sort()) {
    case es::v1::ACCOUNT_SORT_UNSPECIFIED:
      order = "id";
      after = "id > ?2";
      break;
    case es::v1::ACCOUNT_SORT_BALANCE:
      order = "balance DESC, id";
      after = "(balance < ?1 OR (balance = ?1 AND id > ?2))";
      break;
    case es::v1::ACCOUNT_SORT_OWNER:
      order = "owner, id";
      after = "(owner > ?1 OR (owner = ?1 AND id > ?2))";
      break;
    case es::v1::ACCOUNT_SORT_OPENED:
      order = "opened_position";
      after = "opened_position > ?1";
      break;
    default:
      throw BadQuery("unknown account sort " + std::to_string(query.sort()));
  }
  const std::string tag = "A" + std::to_string(query.sort()) + "." + std::to_string(query.status());
  std::optional<Cursor> cursor;
  if (!query.cursor().empty()) {
    cursor = ParseCursor(query.cursor(), tag);
    where += (where.empty() ? "" : " AND ") + after;
  }
  const std::string sql =
      "SELECT id, owner, balance, closed, version, opened_position, opened_at_us, last_position, "
      "last_at_us FROM accounts" +
      (where.empty() ? "" : " WHERE " + where) + " ORDER BY " + order + " LIMIT ?3";
  sqlite3_stmt* s = Prepared(sql);
  Reset reset{s};
  if (cursor) {
    if (query.sort() == es::v1::ACCOUNT_SORT_OWNER) {
      BindText(s, 1, cursor->key);
    } else if (query.sort() != es::v1::ACCOUNT_SORT_UNSPECIFIED) {
      BindInt(s, 1, CursorNumber(cursor->key));
    }
    BindText(s, 2, cursor->id);
  }
  BindInt(s, 3, limit);
  es::v1::AccountPage page;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    es::v1::AccountRow* row = page.add_accounts();
    row->set_account_id(ColumnText(s, 0));
    row->set_owner(ColumnText(s, 1));
    row->set_balance(ColumnInt(s, 2));
    row->set_status(ColumnInt(s, 3) ? es::v1::ACCOUNT_STATUS_CLOSED : es::v1::ACCOUNT_STATUS_OPEN);
    row->set_version(static_cast<uint64_t>(ColumnInt(s, 4)));
    row->set_opened_position(static_cast<uint64_t>(ColumnInt(s, 5)));
    row->set_opened_at_us(ColumnInt(s, 6));
    row->set_last_activity_position(static_cast<uint64_t>(ColumnInt(s, 7)));
    row->set_last_activity_at_us(ColumnInt(s, 8));
  }
  if (rc != SQLITE_DONE) Throw(db_, "cannot list accounts");
  if (page.accounts_size() == static_cast<int>(limit)) {
    const es::v1::AccountRow& last = page.accounts(page.accounts_size() - 1);
    std::string key;
    switch (query.sort()) {
      case es::v1::ACCOUNT_SORT_BALANCE:
        key = std::to_string(last.balance());
        break;
      case es::v1::ACCOUNT_SORT_OWNER:
        key = last.owner();
        break;
      case es::v1::ACCOUNT_SORT_OPENED:
        key = std::to_string(last.opened_position());
        break;
      default:
        break;
    }
    page.set_next_cursor(MakeCursor(tag, key, last.account_id()));
  }
  return page;
}

es::v1::MovementPage Projection::History(const es::v1::GetHistory& query) {
  if (query.account_id().empty()) throw BadQuery("get_history needs an account_id");
  const uint32_t limit = PageLimit(query.limit());
  const std::string tag = "H";
  // Movements before `before`: the smaller of before_position and the
  // cursor's position.
  uint64_t before = query.before_position() == 0 ? UINT64_MAX : query.before_position();
  if (!query.cursor().empty()) {
    const Cursor cursor = ParseCursor(query.cursor(), tag);
    if (cursor.id != query.account_id()) {
      throw BadQuery("the cursor is another account's history");
    }
    before = std::min<uint64_t>(before, static_cast<uint64_t>(CursorNumber(cursor.key)));
  }
  sqlite3_stmt* s = Prepared(
      "SELECT position, stream_version, kind, amount, balance_after, transfer_id, at_us "
      "FROM movements WHERE account_id = ?1 AND position < ?2 ORDER BY position DESC LIMIT ?3");
  Reset reset{s};
  BindText(s, 1, query.account_id());
  BindInt(s, 2,
          before > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(before));
  BindInt(s, 3, limit);
  es::v1::MovementPage page;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    es::v1::Movement* m = page.add_movements();
    m->set_account_id(query.account_id());
    m->set_position(static_cast<uint64_t>(ColumnInt(s, 0)));
    m->set_stream_version(static_cast<uint64_t>(ColumnInt(s, 1)));
    m->set_kind(static_cast<es::v1::MovementKind>(ColumnInt(s, 2)));
    m->set_amount(ColumnInt(s, 3));
    m->set_balance_after(ColumnInt(s, 4));
    m->set_transfer_id(ColumnText(s, 5));
    m->set_at_us(ColumnInt(s, 6));
  }
  if (rc != SQLITE_DONE) Throw(db_, "cannot read a history");
  if (page.movements_size() == static_cast<int>(limit)) {
    page.set_next_cursor(
        MakeCursor(tag, std::to_string(page.movements(page.movements_size() - 1).position()),
                   query.account_id()));
  }
  return page;
}

es::v1::TransferPage Projection::ListTransfers(const es::v1::ListTransfers& query) {
  const uint32_t limit = PageLimit(query.limit());
  if (query.state() < es::v1::TRANSFER_STATE_UNSPECIFIED ||
      query.state() > es::v1::TRANSFER_STATE_FAILED) {
    throw BadQuery("unknown transfer state " + std::to_string(query.state()));
  }
  const std::string tag = "T" + std::to_string(query.state()) + "." + query.account_id();
  int64_t before = INT64_MAX;
  if (!query.cursor().empty()) before = CursorNumber(ParseCursor(query.cursor(), tag).key);
  std::string where = "created_position < ?1";
  if (!query.account_id().empty()) where += " AND (from_account = ?2 OR to_account = ?2)";
  if (query.state() != es::v1::TRANSFER_STATE_UNSPECIFIED) where += " AND state = ?3";
  const std::string sql =
      "SELECT id, from_account, to_account, amount, state, failure_reason, version, "
      "created_position, created_at_us, finished_at_us FROM transfers WHERE " +
      where + " ORDER BY created_position DESC LIMIT ?4";
  sqlite3_stmt* s = Prepared(sql);
  Reset reset{s};
  BindInt(s, 1, before);
  if (!query.account_id().empty()) BindText(s, 2, query.account_id());
  if (query.state() != es::v1::TRANSFER_STATE_UNSPECIFIED) BindInt(s, 3, query.state());
  BindInt(s, 4, limit);
  es::v1::TransferPage page;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    es::v1::TransferRow* t = page.add_transfers();
    t->set_transfer_id(ColumnText(s, 0));
    t->set_from_account(ColumnText(s, 1));
    t->set_to_account(ColumnText(s, 2));
    t->set_amount(ColumnInt(s, 3));
    t->set_state(static_cast<es::v1::TransferState>(ColumnInt(s, 4)));
    t->set_failure_reason(ColumnText(s, 5));
    t->set_version(static_cast<uint64_t>(ColumnInt(s, 6)));
    t->set_created_position(static_cast<uint64_t>(ColumnInt(s, 7)));
    t->set_created_at_us(ColumnInt(s, 8));
    t->set_finished_at_us(ColumnInt(s, 9));
  }
  if (rc != SQLITE_DONE) Throw(db_, "cannot list transfers");
  if (page.transfers_size() == static_cast<int>(limit)) {
    page.set_next_cursor(MakeCursor(
        tag, std::to_string(page.transfers(page.transfers_size() - 1).created_position()), ""));
  }
  return page;
}

es::v1::Totals Projection::Totals() const {
  const TotalsState& t = committed_totals_;
  es::v1::Totals totals;
  bool clamped = false;
  totals.set_accounts_open(t.accounts_open);
  totals.set_accounts_closed(t.accounts_closed);
  totals.set_money_in_accounts(Clamp(t.money_in_accounts, &clamped));
  totals.set_money_in_flight(Clamp(t.money_in_flight, &clamped));
  totals.set_money_deposited(Clamp(t.money_deposited, &clamped));
  totals.set_money_withdrawn(Clamp(t.money_withdrawn, &clamped));
  totals.set_transfers_created(t.transfers_by_state[es::v1::TRANSFER_STATE_CREATED]);
  totals.set_transfers_debited(t.transfers_by_state[es::v1::TRANSFER_STATE_DEBITED]);
  totals.set_transfers_completed(t.transfers_by_state[es::v1::TRANSFER_STATE_COMPLETED]);
  totals.set_transfers_failed(t.transfers_by_state[es::v1::TRANSFER_STATE_FAILED]);
  totals.set_clamped(clamped);
  return totals;
}

}  // namespace es::query
