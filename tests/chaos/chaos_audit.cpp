#include "tests/chaos/chaos_audit.h"

#include "domain/command_identity.h"

#include <set>
#include <string_view>

#include "domain/account.h"
#include "domain/event_codec.h"
#include "domain/stream_ids.h"
#include "es/v1/bank.pb.h"

namespace es::chaos {
namespace {

// What the log says happened to one transfer.
struct TransferTrace {
  int created = 0;
  int debited = 0;        // AccountDebitedBecauseOfMoneyTransfer
  int debit_failed = 0;   // AccountDebitBecauseOfMoneyTransferFailed
  int credited = 0;       // AccountCreditedBecauseOfMoneyTransfer
  int credit_failed = 0;  // AccountCreditBecauseOfMoneyTransferFailed
  int refunded = 0;       // AccountRefundedBecauseOfMoneyTransfer
  int completed = 0;
  int failed_lack_of_funds = 0;
  int failed_refused_credit = 0;
};

std::string TransferIdOf(const es::domain::DomainEvent& event) {
  return std::visit(
      [](const auto& e) -> std::string {
        if constexpr (requires { e.transfer_id(); }) {
          return e.transfer_id();
        } else {
          return "";
        }
      },
      event);
}

// Each account stream's state after each of its versions (index version - 1).
using AccountHistories = std::map<std::string, std::vector<es::domain::AccountState>>;

// A snapshot (command_service's, derived data) must be an AccountSnapshot
// equal to its account's state at the version it names, which the log holds
// by then: a snapshot is appended after the events it reflects.
template <typename Fail>
void CheckSnapshot(const es::v1::EventRecord& event, const AccountHistories& accounts, Fail& fail) {
  const std::string where = "snapshot at " + std::to_string(event.global_position());
  es::v1::AccountSnapshot snapshot;
  if (event.type() != "es.v1.AccountSnapshot" || !snapshot.ParseFromString(event.data())) {
    return fail(where + " is not an es.v1.AccountSnapshot");
  }
  const std::string account_stream =
      event.stream_id().substr(es::domain::kSnapshotStreamPrefix.size());
  auto it = accounts.find(account_stream);
  if (it == accounts.end() || snapshot.version() == 0 || snapshot.version() > it->second.size()) {
    return fail(where + " names version " + std::to_string(snapshot.version()) + " of " +
                account_stream + ", which the log does not hold before it");
  }
  const es::domain::AccountState& state = it->second[snapshot.version() - 1];
  if (snapshot.balance() != state.balance || snapshot.closed() != state.closed ||
      snapshot.exists() != state.exists || snapshot.account_id() != state.account_id) {
    fail(where + " says balance " + std::to_string(snapshot.balance()) + " for " + account_stream +
         " at version " + std::to_string(snapshot.version()) + ", the log " +
         std::to_string(state.balance));
  }
}

}  // namespace

AuditResult Audit(const AuditInput& input) {
  AuditResult result;
  // At most 12 failures shown per section of the audit, so that one kind of
  // failure does not hide the others; the rest are counted.
  int section = 0;
  std::map<int, uint64_t> suppressed;
  std::map<int, int> shown;
  auto fail = [&](std::string message) {
    if (shown[section]++ < 12) {
      result.failures.push_back(std::move(message));
    } else {
      ++suppressed[section];
    }
  };

  section = 1;
  // 1. The log itself: gap-free positions, and one append per command id.
  std::map<std::string, std::vector<const es::v1::EventRecord*>> by_command;
  std::map<std::string, TransferTrace> transfers;
  AccountHistories accounts;
  for (size_t i = 0; i < input.log.size(); ++i) {
    const auto& event = input.log[i];
    if (event.global_position() != i + 1) {
      fail("log position " + std::to_string(event.global_position()) + " at index " +
           std::to_string(i));
    }
    by_command[event.command_id()].push_back(&event);
    if (event.stream_id().starts_with(es::domain::kSnapshotStreamPrefix)) {
      CheckSnapshot(event, accounts, fail);
      continue;
    }
    if (event.type() == es::domain::AnsweredRecordType()) {
      // The recorded answer of a command that changed nothing: a version of
      // its stream, no change of state.
      if (event.stream_id().starts_with(es::domain::kAccountStreamPrefix)) {
        auto& history = accounts[event.stream_id()];
        history.push_back(history.empty() ? es::domain::AccountState{} : history.back());
      }
      continue;
    }
    auto decoded = es::domain::DecodeEvent(event.type(), event.data());
    if (decoded && event.stream_id().starts_with(es::domain::kAccountStreamPrefix)) {
      accounts[event.stream_id()].push_back(es::domain::EvolveAccount(
          accounts[event.stream_id()].empty() ? es::domain::AccountState{}
                                              : accounts[event.stream_id()].back(),
          *decoded));
    }
    if (!decoded) {
      fail("undecodable event at " + std::to_string(event.global_position()));
      continue;
    }
    const std::string transfer_id = TransferIdOf(*decoded);
    if (transfer_id.empty()) continue;
    TransferTrace& t = transfers[transfer_id];
    const std::string& type = event.type();
    if (type == "es.v1.MoneyTransferCreated")
      ++t.created;
    else if (type == "es.v1.AccountDebitedBecauseOfMoneyTransfer")
      ++t.debited;
    else if (type == "es.v1.AccountDebitBecauseOfMoneyTransferFailed")
      ++t.debit_failed;
    else if (type == "es.v1.AccountCreditedBecauseOfMoneyTransfer")
      ++t.credited;
    else if (type == "es.v1.AccountCreditBecauseOfMoneyTransferFailed")
      ++t.credit_failed;
    else if (type == "es.v1.AccountRefundedBecauseOfMoneyTransfer")
      ++t.refunded;
    else if (type == "es.v1.MoneyTransferCompleted")
      ++t.completed;
    else if (type == "es.v1.MoneyTransferFailedDueToLackOfFunds")
      ++t.failed_lack_of_funds;
    else if (type == "es.v1.MoneyTransferFailedDueToRefusedCredit")
      ++t.failed_refused_credit;
  }
  for (const auto& [command_id, events] : by_command) {
    for (size_t i = 1; i < events.size(); ++i) {
      if (events[i]->stream_id() != events[0]->stream_id() ||
          events[i]->global_position() != events[i - 1]->global_position() + 1) {
        fail("command " + command_id + " wrote more than one append");
        break;
      }
    }
  }

  section = 2;
  // 2. Every acknowledged command took effect exactly once, as answered.
  int64_t credited = 0, debited = 0;
  for (const auto& command : input.acknowledged) {
    auto it = by_command.find(command.command_id);
    const size_t written = it == by_command.end() ? 0 : it->second.size();
    // A command that changed nothing wrote its answer alone (a
    // CommandAnswered record), or nothing if it was refused before any
    // state was read.
    const bool answered =
        written == 1 && it->second[0]->type() == es::domain::AnsweredRecordType();
    std::string expected_type;
    switch (command.kind) {
      case OperationKind::kCredit:
        expected_type = command.accepted ? "es.v1.AccountCredited" : "";
        if (command.accepted) credited += command.amount;
        break;
      case OperationKind::kDebit:
        expected_type = command.accepted           ? "es.v1.AccountDebited"
                        : command.recorded_refusal ? "es.v1.AccountDebitFailed"
                                                   : "";
        if (command.accepted) debited += command.amount;
        break;
      case OperationKind::kTransfer:
        expected_type = command.accepted ? "es.v1.MoneyTransferCreated" : "";
        break;
      case OperationKind::kOpen:
        expected_type = command.accepted ? "es.v1.AccountOpened" : "";
        break;
      case OperationKind::kClose:
        // Closing a closed account is accepted with no event (its answer
        // recorded).
        if (command.accepted && (answered || (written == 1 &&
                                              it->second[0]->type() == "es.v1.AccountClosed"))) {
          continue;
        }
        expected_type = command.accepted && written != 0 ? "es.v1.AccountClosed" : "";
        break;
    }
    if (expected_type.empty()) {
      if (written != 0 && !answered) {
        fail("refused command " + command.command_id + " wrote events");
      }
      continue;
    }
    if (written != 1) {
      fail("command " + command.command_id + " wrote " + std::to_string(written) +
           " events, expected 1 " + expected_type);
      continue;
    }
    if (it->second[0]->type() != expected_type) {
      fail("command " + command.command_id + " wrote " + it->second[0]->type() + ", expected " +
           expected_type);
    }
    if (command.kind == OperationKind::kTransfer && command.accepted) {
      auto trace = transfers.find(command.transfer_id);
      if (trace == transfers.end() || trace->second.created != 1) {
        fail("acknowledged transfer " + command.transfer_id + " not created exactly once");
      }
    }
  }

  section = 3;
  // 3. Every transfer finished, and no step happened twice.
  for (const auto& [id, t] : transfers) {
    const int terminal = t.completed + t.failed_lack_of_funds + t.failed_refused_credit;
    if (t.created != 1) fail("transfer " + id + " created " + std::to_string(t.created) + " times");
    if (terminal == 0) {
      ++result.transfers_unfinished;
      fail("transfer " + id + " never reached Completed or Failed");
    }
    if (terminal > 1) fail("transfer " + id + " ended " + std::to_string(terminal) + " times");
    if (t.debited > 1) fail("transfer " + id + " debited twice");
    if (t.credited > 1) fail("transfer " + id + " credited twice");
    if (t.refunded > 1) fail("transfer " + id + " refunded twice");
    if (t.refunded > 0 && t.credit_failed == 0) {
      fail("transfer " + id + " refunded without a refused credit");
    }
    if (t.completed == 1 && (t.debited != 1 || t.credited != 1)) {
      fail("transfer " + id + " completed without exactly one debit and one credit");
    }
    if (t.failed_lack_of_funds == 1 && t.debited != 0) {
      fail("transfer " + id + " failed for lack of funds but was debited");
    }
    if (t.failed_refused_credit == 1 && (t.debited != 1 || t.refunded != 1)) {
      fail("transfer " + id + " failed on its credit without one debit and one refund");
    }
    result.transfers_completed += t.completed;
    result.transfers_failed_lack_of_funds += t.failed_lack_of_funds;
    result.transfers_failed_refused_credit += t.failed_refused_credit;
  }

  section = 4;
  // 4. Money is neither created nor lost.
  int64_t opening = 0;
  for (const auto& [account, balance] : input.opening_balances) opening += balance;
  result.money_expected = opening + credited - debited;
  for (const auto& [account, balance] : input.final_balances) result.money_found += balance;
  if (result.money_found != result.money_expected) {
    fail("sum of balances " + std::to_string(result.money_found) + " != opening " +
         std::to_string(opening) + " + credits " + std::to_string(credited) + " - debits " +
         std::to_string(debited) + " = " + std::to_string(result.money_expected));
  }

  section = 5;
  // 5. Every command id got the same answer each time, and an id sent for
  // another command, or outside its sender's namespace, was refused
  // COMMAND_ID_CONFLICT and wrote nothing.
  std::map<std::string, const Answer*> first_answers;
  for (const auto& answer : input.answers) {
    if (answer.role == AnswerRole::kFirst) first_answers.emplace(answer.command_id, &answer);
  }
  std::map<std::string, const Answer*> saga_repeats;
  auto describe = [](const Answer& a) {
    return std::string(a.accepted ? "accepted" : "refused ") +
           (a.accepted ? "" : es::v1::RefusalCode_Name(a.code));
  };
  for (const auto& answer : input.answers) {
    ++result.answers_checked;
    switch (answer.role) {
      case AnswerRole::kFirst:
        break;
      case AnswerRole::kResend: {
        ++result.resends;
        auto first = first_answers.find(answer.command_id);
        if (first == first_answers.end()) {
          fail("re-sent command " + answer.command_id + " has no first answer");
        } else if (first->second->accepted != answer.accepted ||
                   first->second->code != answer.code) {
          fail("command " + answer.command_id + " (" + answer.what + ") was first " +
               describe(*first->second) + ", then " + describe(answer));
        }
        break;
      }
      case AnswerRole::kReuse:
      case AnswerRole::kReserved:
        ++result.conflicts;
        if (answer.accepted || answer.code != es::v1::REFUSAL_CODE_COMMAND_ID_CONFLICT) {
          fail(std::string(answer.role == AnswerRole::kReuse ? "reused id " : "reserved id ") +
               answer.command_id + " for " + answer.what + " was " + describe(answer) +
               ", not COMMAND_ID_CONFLICT");
        }
        break;
      case AnswerRole::kSagaRepeat: {
        ++result.resends;
        if (!answer.accepted && answer.events_written == 0 && !answer.duplicate) {
          fail("saga step " + answer.command_id + " (" + answer.what + ") sent again was " +
               describe(answer) + " with nothing recorded");
        }
        // The saga's step wrote its event under this id; the answer again
        // is that event's: a refusal for the recorded failures, else accepted.
        auto records = by_command.find(answer.command_id);
        if (records == by_command.end()) {
          fail("saga step " + answer.command_id + " sent again has no record in the log");
        } else {
          const bool refused_step = records->second[0]->type().ends_with("Failed");
          if (answer.accepted == refused_step) {
            fail("saga step " + answer.command_id + " (" + records->second[0]->type() +
                 ") sent again was " + describe(answer));
          }
        }
        auto [it, inserted] = saga_repeats.emplace(answer.command_id, &answer);
        if (!inserted && (it->second->accepted != answer.accepted ||
                          it->second->code != answer.code)) {
          fail("saga step " + answer.command_id + " was " + describe(*it->second) +
               " when sent again, then " + describe(answer));
        }
        break;
      }
    }
  }
  for (const auto& id : input.never_written) {
    auto it = by_command.find(id);
    if (it != by_command.end()) {
      fail("refused command " + id + " wrote " + std::to_string(it->second.size()) +
           " records (" + it->second[0]->type() + ")");
    }
  }
  if (result.transfers_failed_refused_credit == 0) {
    fail("no transfer took the refund path (credit refused, refunded)");
  }
  for (size_t i = 0; i < input.other_instances_balances.size(); ++i) {
    for (const auto& [account, balance] : input.final_balances) {
      auto it = input.other_instances_balances[i].find(account);
      const int64_t other = it == input.other_instances_balances[i].end() ? -1 : it->second;
      if (other != balance) {
        fail("command_service " + std::to_string(i + 1) + " says " + account + " holds " +
             std::to_string(other) + ", command_service 0 " + std::to_string(balance));
      }
    }
  }

  section = 6;
  // 6. The saga never met an answer it did not expect but for "not now"
  // while processes died: nothing parked, and no alarm in the clean phase.
  if (input.saga.parked_at_end != 0 || input.saga.parked_logged != 0) {
    fail("the saga parked transfers: " + std::to_string(input.saga.parked_logged) +
         " ALARM parked lines, " + std::to_string(input.saga.parked_at_end) + " parked at the end");
  }
  if (input.saga.clean_phase_ran &&
      input.saga.alarms_after_clean != input.saga.alarms_before_clean) {
    fail("the saga raised " +
         std::to_string(input.saga.alarms_after_clean - input.saga.alarms_before_clean) +
         " alarms in the clean phase (no kills)");
  }

  section = 7;
  // 7. Every listener saw the store's sequence exactly once, in order.
  for (size_t l = 0; l < input.listeners.size(); ++l) {
    const auto& lines = input.listeners[l];
    if (lines.size() != input.log.size()) {
      fail("listener " + std::to_string(l) + " has " + std::to_string(lines.size()) +
           " events, the store " + std::to_string(input.log.size()));
    }
    for (size_t i = 0; i < std::min(lines.size(), input.log.size()); ++i) {
      if (lines[i].position != input.log[i].global_position() ||
          lines[i].event_id != input.log[i].event_id()) {
        fail("listener " + std::to_string(l) + " line " + std::to_string(i + 1) + " is position " +
             std::to_string(lines[i].position) + ", expected " +
             std::to_string(input.log[i].global_position()));
        break;
      }
    }
  }
  for (const auto& [where, count] : suppressed) {
    result.failures.push_back("... and " + std::to_string(count) +
                              " more failures in audit section " + std::to_string(where));
  }
  return result;
}

}  // namespace es::chaos
