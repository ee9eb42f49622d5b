#include "domain/aggregate.h"

#include <utility>
#include <variant>

#include "domain/command_identity.h"
#include "domain/event_codec.h"
#include "domain/stream_ids.h"
#include "domain/validation.h"

namespace es::domain {
namespace {

constexpr uint32_t kSnapshotFormat = 2;  // AccountSnapshot.transfers_out exists

// Whether `event` is one of `kind`'s events.
bool IsEventOf(AggregateKind kind, const DomainEvent& event) {
  return std::visit(
      [kind](const auto& e) {
        using Event = std::decay_t<decltype(e)>;
        return kind == AggregateKind::kAccount ? AccountEventMessage<Event>
                                               : TransferEventMessage<Event>;
      },
      event);
}

RecordedAnswer Refused(es::v1::RefusalCode code, std::string_view type) {
  return RecordedAnswer{false, code, "recorded as " + std::string(type)};
}

// The refusal an account event records, if it records one; `before` is the
// account as the command found it (the deciders check corruption, then
// closure, then funds, so it tells the first answer's reason again).
std::optional<RecordedAnswer> RecordedRefusal(const AccountState& before, const DomainEvent& event,
                                              std::string_view type) {
  if (std::holds_alternative<es::v1::AccountDebitFailed>(event)) {
    return Refused(es::v1::REFUSAL_CODE_INSUFFICIENT_FUNDS, type);
  }
  if (std::holds_alternative<es::v1::AccountDebitBecauseOfMoneyTransferFailed>(event)) {
    return Refused(before.closed ? es::v1::REFUSAL_CODE_ACCOUNT_CLOSED
                                 : es::v1::REFUSAL_CODE_INSUFFICIENT_FUNDS,
                   type);
  }
  if (const auto* failed = std::get_if<es::v1::AccountCreditBecauseOfMoneyTransferFailed>(&event)) {
    // The reason is recorded (account.cpp decides it).
    if (failed->reason() == "balance would overflow") {
      return Refused(es::v1::REFUSAL_CODE_OVERFLOW, type);
    }
    if (failed->reason() == "account stream corrupt") {
      return Refused(es::v1::REFUSAL_CODE_STREAM_CORRUPT, type);
    }
    return Refused(es::v1::REFUSAL_CODE_ACCOUNT_CLOSED, type);
  }
  return std::nullopt;
}

// The id an opening event gives its aggregate (AccountOpened,
// MoneyTransferCreated); nullptr for every other event.
const std::string* OpenedId(const DomainEvent& event) {
  if (const auto* opened = std::get_if<es::v1::AccountOpened>(&event)) return &opened->account_id();
  if (const auto* created = std::get_if<es::v1::MoneyTransferCreated>(&event)) {
    return &created->transfer_id();
  }
  return nullptr;
}

}  // namespace

std::optional<AggregateKind> KindOfStream(std::string_view stream_id) {
  if (stream_id.starts_with(kAccountStreamPrefix)) return AggregateKind::kAccount;
  if (stream_id.starts_with(kTransferStreamPrefix)) return AggregateKind::kTransfer;
  return std::nullopt;
}

const std::string& AggregateState::corruption() const {
  if (!corrupt.empty()) return corrupt;
  return kind == AggregateKind::kAccount ? account.corrupt : transfer.corrupt;
}

AggregateState EmptyAggregate(AggregateKind kind) {
  AggregateState state;
  state.kind = kind;
  return state;
}

AggregateState AggregateOfStream(std::string_view stream_id) {
  const std::optional<AggregateKind> kind = KindOfStream(stream_id);
  AggregateState state = EmptyAggregate(kind.value_or(AggregateKind::kAccount));
  if (kind) {
    const std::string_view prefix =
        *kind == AggregateKind::kAccount ? kAccountStreamPrefix : kTransferStreamPrefix;
    state.id = std::string(stream_id.substr(prefix.size()));
  }
  return state;
}

Decision Decide(const AggregateState& state, const es::v1::Command& command) {
  if (!state.corrupt.empty()) {
    return Decision::Refuse(es::v1::REFUSAL_CODE_STREAM_CORRUPT,
                            "the stream cannot be used: " + state.corrupt);
  }
  return state.kind == AggregateKind::kAccount ? DecideAccount(state.account, command)
                                               : DecideTransfer(state.transfer, command);
}

RecordedAnswer Apply(AggregateState& state, std::string_view type, std::string_view data,
                     uint64_t stream_version) {
  state.version = stream_version;
  if (type == AnsweredRecordType()) {
    es::v1::CommandAnswered answered;
    if (!answered.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
      if (state.corrupt.empty()) {
        state.corrupt = "record " + std::to_string(stream_version) + " is an unreadable " +
                        std::string(type);
      }
      return RecordedAnswer{false, es::v1::REFUSAL_CODE_STREAM_CORRUPT, state.corrupt};
    }
    return RecordedAnswer{answered.accepted(), answered.refusal_code(), answered.message()};
  }
  std::optional<DomainEvent> event = DecodeEvent(type, data);
  if (!event || !IsEventOf(state.kind, *event)) {
    if (state.corrupt.empty()) {
      state.corrupt = "record " + std::to_string(stream_version) + " of type " +
                      std::string(type) +
                      (event ? " belongs to another aggregate" : " is no event of this domain");
    }
    return RecordedAnswer{};
  }
  if (const std::string* opened = OpenedId(*event);
      opened != nullptr && !opened->empty() && !state.id.empty() && *opened != state.id) {
    if (state.corrupt.empty()) {
      state.corrupt = "record " + std::to_string(stream_version) + " (" + std::string(type) +
                      ") opens '" + *opened + "' on the stream of '" + state.id + "'";
    }
    return RecordedAnswer{};
  }
  std::optional<RecordedAnswer> refusal;
  if (state.kind == AggregateKind::kAccount) refusal = RecordedRefusal(state.account, *event, type);
  ApplyDecided(state, *event, stream_version);
  return refusal ? std::move(*refusal) : RecordedAnswer{};
}

void ApplyDecided(AggregateState& state, const DomainEvent& event, uint64_t stream_version) {
  state.version = stream_version;
  if (state.kind == AggregateKind::kTransfer) {
    state.transfer = EvolveTransfer(std::move(state.transfer), event);
    return;
  }
  const bool was_closed = state.account.closed;
  state.account = EvolveAccount(std::move(state.account), event);
  if (!was_closed && state.account.closed) state.closed_version = stream_version;
}

RecordedAnswer AnswerOfRecord(AggregateKind kind, std::string_view type, std::string_view data,
                              bool account_was_closed) {
  AggregateState scratch = EmptyAggregate(kind);
  scratch.account.exists = true;
  scratch.account.closed = account_was_closed;
  if (type == AnsweredRecordType()) return Apply(scratch, type, data, 1);
  std::optional<DomainEvent> event = DecodeEvent(type, data);
  if (!event || kind != AggregateKind::kAccount) return RecordedAnswer{};
  return RecordedRefusal(scratch.account, *event, type).value_or(RecordedAnswer{});
}

RecordedAnswer AnswerOf(const Decision& decision) {
  if (!decision.rejection) return RecordedAnswer{};
  return RecordedAnswer{false, decision.rejection->code, decision.rejection->message};
}

bool HasSnapshots(AggregateKind kind) { return kind == AggregateKind::kAccount; }

const std::string& SnapshotType() { return TypeNameOf<es::v1::AccountSnapshot>(); }

std::string SnapshotOf(const AggregateState& state) {
  es::v1::AccountSnapshot snapshot;
  const AccountState& account = state.account;
  snapshot.set_version(state.version);
  snapshot.set_exists(account.exists);
  snapshot.set_account_id(account.account_id);
  snapshot.set_owner(account.owner);
  snapshot.set_balance(account.balance);
  snapshot.set_closed(account.closed);
  snapshot.set_closed_version(state.closed_version);
  snapshot.set_transfers_out(account.transfers_out);
  snapshot.set_format(kSnapshotFormat);
  return snapshot.SerializeAsString();
}

bool Restore(AggregateState& state, std::string_view stream_id, std::string_view type,
             std::string_view data) {
  es::v1::AccountSnapshot snapshot;
  if (state.kind != AggregateKind::kAccount || type != SnapshotType() ||
      !snapshot.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return false;
  }
  if (snapshot.format() < kSnapshotFormat || snapshot.version() == 0 || !snapshot.exists() ||
      AccountStreamId(snapshot.account_id()) != stream_id || snapshot.balance() < 0 ||
      snapshot.transfers_out() < 0 || !CheckedAdd(snapshot.balance(), snapshot.transfers_out())) {
    return false;
  }
  AccountState& account = state.account;
  account.exists = true;
  account.account_id = snapshot.account_id();
  account.owner = snapshot.owner();
  account.balance = snapshot.balance();
  account.transfers_out = snapshot.transfers_out();
  account.version = snapshot.version();
  account.closed = snapshot.closed();
  state.version = snapshot.version();
  state.closed_version = snapshot.closed_version();
  return true;
}

}  // namespace es::domain
