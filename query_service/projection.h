// The read models of query_service, in its own SQLite database (WAL):
// accounts, every account's movements, transfers and the bank's totals,
// with the checkpoint — the global position of the last event applied —
// in the same database.
//
// Events are applied in transactions of many events (Begin, Apply...,
// Commit): the checkpoint row and the totals are written in the same
// transaction as the rows the events changed, so after a kill -9 at any
// moment the database holds exactly the events 1..position() — nothing
// lost, nothing applied twice — and the subscriber resumes at
// position() + 1.
//
// Accounts fold with the domain's own EvolveAccount (domain/account.h), so
// the projection validates the log exactly as command_service does: an
// event that cannot apply (before the opening, a debit beyond the balance,
// an overflow, another account's) leaves the account as it was and marks it
// corrupt; it writes no movement. Event types it does not know
// (es.v1.CommandAnswered, snapshots, anything else) only move the position
// (and an account's or transfer's version: the stream's).
//
// Not thread-safe: one thread applies and queries, queries only between
// transactions, so every answer reflects exactly position().
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "es/v1/event.pb.h"
#include "es/v1/query.pb.h"

struct sqlite3;
struct sqlite3_stmt;

namespace es::query {

// A query the projection cannot answer as asked (a bad cursor, a missing
// account id): the reply is BAD_REQUEST with the message.
class BadQuery : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The bank's totals, exact (sums in 128 bits).
struct TotalsState {
  uint64_t accounts_open = 0;
  uint64_t accounts_closed = 0;
  __int128 money_in_accounts = 0;
  __int128 money_in_flight = 0;
  __int128 money_deposited = 0;
  __int128 money_withdrawn = 0;
  uint64_t transfers_by_state[5] = {};  // indexed by es::v1::TransferState
  bool operator==(const TotalsState&) const = default;
};

class Projection {
 public:
  // Opens (creating if missing) the database at `path`. Throws
  // std::runtime_error if it cannot be opened or is not a projection.
  explicit Projection(const std::string& path);
  ~Projection();
  Projection(const Projection&) = delete;
  Projection& operator=(const Projection&) = delete;

  // The global position of the last event applied and committed.
  uint64_t position() const { return position_; }
  // The position of the last event applied, committed or not.
  uint64_t applied_position() const { return pending_position_; }
  bool in_transaction() const { return in_transaction_; }

  void Begin();
  enum class Applied { kApplied, kIgnored, kAlreadyApplied, kNotNext };
  // Applies `event` inside a transaction. kAlreadyApplied (its position is
  // at or below applied_position(): nothing done) and kNotNext (it is past
  // applied_position() + 1: nothing done; the caller must fetch what is
  // missing) are the caller's business; kIgnored: a type not projected.
  Applied Apply(const es::v1::EventRecord& event);
  // Writes the checkpoint and totals and commits. Throws
  // std::runtime_error if SQLite fails (the transaction is rolled back).
  void Commit();

  es::v1::AccountPage ListAccounts(const es::v1::ListAccounts& query);
  es::v1::MovementPage History(const es::v1::GetHistory& query);
  es::v1::TransferPage ListTransfers(const es::v1::ListTransfers& query);
  es::v1::Totals Totals() const;
  const TotalsState& totals_state() const { return committed_totals_; }

 private:
  sqlite3_stmt* Prepared(const std::string& sql);
  void Exec(const char* sql);
  void ApplyAccountEvent(const es::v1::EventRecord& record, const std::string& account_id,
                         const void* domain_event);
  void ApplyTransferEvent(const es::v1::EventRecord& record, const void* domain_event);
  void BumpVersion(const char* table, const std::string& id, uint64_t version);
  void LoadState();

  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*> statements_;
  uint64_t position_ = 0;
  uint64_t pending_position_ = 0;
  bool in_transaction_ = false;
  TotalsState committed_totals_;
  TotalsState pending_totals_;
};

}  // namespace es::query
