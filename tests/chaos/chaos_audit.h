// The chaos run's verdict: checks the store's whole event log against what
// the clients were told (their log of acknowledged commands and every answer
// they got), the accounts' balances, what every listener wrote, and what the
// saga reported.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "es/v1/command.pb.h"
#include "es/v1/event.pb.h"
#include "tests/chaos/chaos_listener.h"

namespace es::chaos {

enum class OperationKind { kCredit, kDebit, kTransfer, kClose, kOpen };

// One command a client sent and got a definitive answer for (its first).
struct AcknowledgedCommand {
  std::string command_id;
  OperationKind kind;
  std::string account;  // credit/debit/close/open: the account; transfer: the source
  std::string target;   // transfer only
  std::string transfer_id;
  int64_t amount = 0;
  bool accepted = false;
  bool recorded_refusal = false;  // refused with an event (insufficient funds)
};

// Why a command was sent, for the answer checks.
enum class AnswerRole {
  kFirst,        // the first definitive answer to a command id
  kResend,       // the same command again under its id: must equal kFirst
  kReuse,        // another command under an id already answered: COMMAND_ID_CONFLICT
  kReserved,     // an id in a namespace not the sender's ("saga-" for a client
                 // command, anything else for a saga step): COMMAND_ID_CONFLICT
  kSagaRepeat,   // a saga step sent again exactly, after the saga's own: all equal,
                 // taken effect (accepted, or a refusal recorded as an event)
};

// One definitive answer a client got.
struct Answer {
  std::string command_id;
  AnswerRole role;
  bool accepted = false;
  es::v1::RefusalCode code = es::v1::REFUSAL_CODE_UNSPECIFIED;
  uint32_t events_written = 0;
  bool duplicate = false;
  std::string what;  // the command, for failure messages
};

// What the saga reported at the end, and across its restarts.
struct SagaReport {
  uint64_t parked_at_end = 0;            // transfers_parked in its final stats
  uint64_t alarms_at_end = 0;            // alarms in its final stats (this incarnation)
  uint64_t parked_logged = 0;            // "ALARM parked" lines in its log, every incarnation
  uint64_t alarms_before_clean = 0;      // alarms when the kills were over and it was quiet
  uint64_t alarms_after_clean = 0;       // alarms after the clean phase, quiet again
  bool clean_phase_ran = false;
};

struct AuditInput {
  std::vector<es::v1::EventRecord> log;  // positions 1..head, in order
  std::vector<AcknowledgedCommand> acknowledged;
  std::vector<Answer> answers;                      // every definitive answer
  std::vector<std::string> never_written;           // ids that must have no record
  std::map<std::string, int64_t> opening_balances;  // by account id
  std::map<std::string, int64_t> final_balances;    // by account id (from the service)
  // The same query through every other command_service instance: must equal.
  std::vector<std::map<std::string, int64_t>> other_instances_balances;
  std::vector<std::vector<ListenerLine>> listeners;
  SagaReport saga;
};

struct AuditResult {
  std::vector<std::string> failures;  // empty: PASS
  uint64_t transfers_completed = 0;
  uint64_t transfers_failed_lack_of_funds = 0;
  uint64_t transfers_failed_refused_credit = 0;
  uint64_t transfers_unfinished = 0;
  int64_t money_expected = 0;
  int64_t money_found = 0;
  uint64_t answers_checked = 0;
  uint64_t resends = 0;         // kResend and kSagaRepeat answers
  uint64_t conflicts = 0;       // kReuse and kReserved answers (each COMMAND_ID_CONFLICT)
};

AuditResult Audit(const AuditInput& input);

}  // namespace es::chaos
