// The chaos run's verdict: checks the store's whole event log against what
// the clients were told (their log of acknowledged commands), the accounts'
// balances, and what every listener wrote.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "es/v1/event.pb.h"
#include "tests/chaos/chaos_listener.h"

namespace es::chaos {

enum class OperationKind { kCredit, kDebit, kTransfer, kClose };

// One command a client sent and got a definitive answer for.
struct AcknowledgedCommand {
  std::string command_id;
  OperationKind kind;
  std::string account;  // credit/debit: the account; transfer: the source
  std::string target;   // transfer only
  std::string transfer_id;
  int64_t amount = 0;
  bool accepted = false;
  bool recorded_refusal = false;  // refused with an event (insufficient funds)
};

struct AuditInput {
  std::vector<es::v1::EventRecord> log;  // positions 1..head, in order
  std::vector<AcknowledgedCommand> acknowledged;
  std::map<std::string, int64_t> opening_balances;  // by account id
  std::map<std::string, int64_t> final_balances;    // by account id (from the service)
  std::vector<std::vector<ListenerLine>> listeners;
};

struct AuditResult {
  std::vector<std::string> failures;  // empty: PASS
  uint64_t transfers_completed = 0;
  uint64_t transfers_failed_lack_of_funds = 0;
  uint64_t transfers_failed_refused_credit = 0;
  uint64_t transfers_unfinished = 0;
  int64_t money_expected = 0;
  int64_t money_found = 0;
};

AuditResult Audit(const AuditInput& input);

}  // namespace es::chaos
