// One abstraction over the bank's two aggregates, for whoever hosts them
// (command_service): which aggregate a stream holds, how a stored record
// folds into it, what a command decides against it, what answer a record
// gives to the command that wrote it, and the snapshot of it. The domain
// facts (which event types are recorded refusals, how an account is
// snapshotted) live here, not in the host.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "domain/account.h"
#include "domain/decision.h"
#include "domain/money_transfer.h"
#include "es/v1/command.pb.h"

namespace es::domain {

enum class AggregateKind { kAccount, kTransfer };

// The aggregate a stream holds: "account-..." or "transfer-..."; nothing for
// any other stream (snapshots, a listener's own streams).
std::optional<AggregateKind> KindOfStream(std::string_view stream_id);

struct AggregateState {
  AggregateKind kind = AggregateKind::kAccount;
  // The aggregate's id, from its stream ("account-<id>"): an event that
  // opens another aggregate on this stream makes it corrupt. Empty: not
  // checked (a fold of records read out of context).
  std::string id;
  AccountState account;    // kind == kAccount
  TransferState transfer;  // kind == kTransfer
  // The stream's version: every record counts, domain event or not.
  uint64_t version = 0;
  // Account: the version of its AccountClosed event (0 = open). A recorded
  // refusal after it was refused because the account was closed.
  uint64_t closed_version = 0;
  // A record that is no event of this aggregate (an unknown type, data that
  // does not parse): the stream cannot be folded. See also the kind's own.
  std::string corrupt;

  // Why the stream cannot be folded; empty if it can.
  const std::string& corruption() const;
};

// A fresh state of `kind`.
AggregateState EmptyAggregate(AggregateKind kind);
// The fresh state of the aggregate `stream_id` holds: its kind (an account
// for a stream of no kind, which is corrupt at its first record) and id.
AggregateState AggregateOfStream(std::string_view stream_id);

// The decision for `command` (one of the kind's commands) against `state`.
Decision Decide(const AggregateState& state, const es::v1::Command& command);

// The answer a stored record gives to the command whose append wrote it: a
// repeat of that command gets the same. Recorded refusals (insufficient
// funds, a refused transfer step) and CommandAnswered records refuse; other
// events accept.
struct RecordedAnswer {
  bool accepted = true;
  es::v1::RefusalCode refusal_code = es::v1::REFUSAL_CODE_UNSPECIFIED;
  std::string message;
};

// Folds the record (`type`, `data`) stored at `stream_version` into `state`
// and returns the answer it records. A CommandAnswered only counts as a
// version; a type that is not this aggregate's marks the state corrupt.
RecordedAnswer Apply(AggregateState& state, std::string_view type, std::string_view data,
                     uint64_t stream_version);

// Folds an event the host decided itself, which the store wrote at
// `stream_version` (no decode: the host holds the event).
void ApplyDecided(AggregateState& state, const DomainEvent& event, uint64_t stream_version);

// The answer the record (`type`, `data`) gives to the command that wrote it,
// read without folding (the store's find_command): `account_was_closed`
// says whether the account was closed before the record.
RecordedAnswer AnswerOfRecord(AggregateKind kind, std::string_view type, std::string_view data,
                              bool account_was_closed);

// The answer that `decision` gives, had it been written (for the host's
// memory of answers it wrote itself).
RecordedAnswer AnswerOf(const Decision& decision);

// Snapshots: accounts only (a transfer's stream is at most a few events).
bool HasSnapshots(AggregateKind kind);
// The record type of a snapshot, "es.v1.AccountSnapshot".
const std::string& SnapshotType();
// The serialized snapshot of `state` (an account).
std::string SnapshotOf(const AggregateState& state);
// Sets a fresh `state` for `stream_id` to the snapshot (`type`, `data`); false
// (state untouched) if it is not a usable snapshot of that stream: another
// type, another account, an older format, undecodable.
bool Restore(AggregateState& state, std::string_view stream_id, std::string_view type,
             std::string_view data);

}  // namespace es::domain
