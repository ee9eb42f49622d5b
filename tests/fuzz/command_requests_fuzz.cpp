// command_service's request path without a socket: a Command as a client
// sends it, the checks made before any state is read (CheckRequest, which
// applies CheckArguments), the stream it goes to, then Decide against the
// aggregate folded from stored records (Apply, as a load does, optionally
// from a snapshot: Restore), the records the decision writes folded back
// (ApplyDecided) and read back as a repeat would (CommandOfRecord,
// SameCommand, AnswerOfRecord).
//
// Input: Piece(serialized es.v1.Command), u8 snapshot flag [Piece(snapshot
// data)], then records: u8 type index (fuzz_records.h), Piece(data).
//
// Invariants beyond "no crash, no UB":
//   - a command CheckRequest lets through has a stream of a known kind;
//   - the records a decision writes, read back, name the same command (a
//     retry is not refused as COMMAND_ID_CONFLICT) and give the same answer;
//   - folding the written records as stored equals folding them as decided;
//   - an account's snapshot restores to the same state.
#include <cstdint>
#include <string>

#include "domain/aggregate.h"
#include "domain/command_identity.h"
#include "domain/event_codec.h"
#include "domain/stream_ids.h"
#include "domain/validation.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/fuzz_records.h"

namespace {

using es::domain::AggregateState;
using es::fuzz::Fail;

// `bytes` printable (a failure message must show what the fuzzer made).
std::string Escaped(std::string_view bytes) {
  std::string text;
  for (const char c : bytes) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      text += c;
    } else {
      char hex[5];
      snprintf(hex, sizeof(hex), "\\x%02x", static_cast<unsigned char>(c));
      text += hex;
    }
  }
  return text;
}

// What the state says, comparable: the snapshot for an account, the fields
// for a transfer, and the corruption either way.
std::string Describe(const AggregateState& state) {
  std::string text = std::to_string(state.version) + "|" + state.corruption() + "|" +
                     std::to_string(state.closed_version) + "|";
  if (state.kind == es::domain::AggregateKind::kAccount) {
    const auto& a = state.account;
    text += std::to_string(a.exists) + a.account_id + "|" + a.owner + "|" +
            std::to_string(a.balance) + "|" + std::to_string(a.closed) + "|" +
            std::to_string(a.transfers_out);
  } else {
    const auto& t = state.transfer;
    text += std::to_string(t.exists) + t.transfer_id + "|" + t.from_account + "|" +
            t.to_account + "|" + std::to_string(t.amount) + "|" +
            std::to_string(static_cast<int>(t.status)) + "|" +
            std::to_string(static_cast<int>(t.failure_reason));
  }
  return Escaped(text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  es::fuzz::FuzzInput input(data, size);
  const std::string_view command_bytes = input.Piece();
  es::v1::Command command;
  if (!command.ParseFromArray(command_bytes.data(), static_cast<int>(command_bytes.size()))) {
    return 0;
  }
  // What command_service checks before it reads any state.
  const std::optional<es::domain::Rejection> bad = es::domain::CheckRequest(command);
  (void)es::domain::CheckArguments(command);
  (void)es::domain::CommandDigest(command);
  const std::optional<std::string> stream = es::domain::StreamOfCommand(command);
  if (bad) return 0;  // refused; nothing read, nothing written
  if (!stream) Fail("CheckRequest passed a command without a stream");
  const std::optional<es::domain::AggregateKind> kind = es::domain::KindOfStream(*stream);
  if (!kind) Fail("CheckRequest passed a command for stream " + *stream + " of no kind");

  // The aggregate as a load folds it: from a snapshot, then records.
  AggregateState state = es::domain::AggregateOfStream(*stream);
  if (input.Int<uint8_t>() & 1) {
    const std::string_view snapshot = input.Piece();
    (void)es::domain::Restore(state, *stream, es::domain::SnapshotType(), snapshot);
  }
  const auto& types = es::fuzz::RecordTypes();
  for (int records = 0; !input.empty() && records < 64; ++records) {
    const std::string& type = types[input.Int<uint8_t>() % types.size()];
    const std::string_view record = input.Piece();
    (void)es::domain::AnswerOfRecord(*kind, type, record, state.closed_version != 0);
    (void)es::domain::CommandOfRecord(type, record);
    (void)es::domain::Apply(state, type, record, state.version + 1);
  }
  if (es::domain::HasSnapshots(*kind) && state.corruption().empty()) {
    const std::string snapshot = es::domain::SnapshotOf(state);
    AggregateState restored = es::domain::AggregateOfStream(*stream);
    if (!es::domain::Restore(restored, *stream, es::domain::SnapshotType(), snapshot)) {
      if (state.account.exists) {
        Fail("the snapshot of a folded account does not restore: " + Describe(state));
      }
    } else if (es::domain::SnapshotOf(restored) != snapshot) {
      Fail("a restored snapshot differs from the state it was taken of");
    }
  }

  // Decide, and what the decision writes, as command_service writes it.
  const es::domain::Decision decision = es::domain::Decide(state, command);
  const es::domain::RecordedAnswer answer = es::domain::AnswerOf(decision);
  std::vector<es::domain::EncodedEvent> written;
  if (decision.events.empty()) {
    written.push_back(es::domain::AnsweredRecord(command, decision));
  } else {
    for (const auto& event : decision.events) written.push_back(es::domain::EncodeEvent(event));
  }
  AggregateState as_decided = state;
  AggregateState as_stored = state;
  uint64_t version = state.version;
  for (const auto& event : decision.events) {
    es::domain::ApplyDecided(as_decided, event, ++version);
  }
  version = state.version;
  bool stored_accepted = true;
  es::v1::RefusalCode stored_code = es::v1::REFUSAL_CODE_UNSPECIFIED;
  for (const auto& record : written) {
    ++version;
    const bool was_closed = state.closed_version != 0 && version > state.closed_version;
    const auto stored = es::domain::AnswerOfRecord(*kind, record.type, record.data, was_closed);
    if (!stored.accepted) {
      stored_accepted = false;
      stored_code = stored.refusal_code;
    }
    (void)es::domain::Apply(as_stored, record.type, record.data, version);
  }
  // A repeat reads the first record back: the same command, the same answer.
  const std::optional<es::v1::Command> original =
      es::domain::CommandOfRecord(written.front().type, written.front().data);
  if (!original) Fail("the first record written (" + written.front().type + ") names no command");
  if (!es::domain::SameCommand(command, *original)) {
    Fail("a repeat of " + command.ShortDebugString() + " would be a conflict with " +
         original->ShortDebugString());
  }
  if (stored_accepted != answer.accepted ||
      (!answer.accepted && stored_code != answer.refusal_code)) {
    Fail("the written records answer " + std::to_string(stored_accepted) + "/" +
         std::to_string(stored_code) + ", the decision " + std::to_string(answer.accepted) + "/" +
         std::to_string(answer.refusal_code) + " for " + command.ShortDebugString());
  }
  if (!decision.events.empty() && Describe(as_decided) != Describe(as_stored)) {
    Fail("folding the decided events (" + Describe(as_decided) + ") and the stored ones (" +
         Describe(as_stored) + ") differ");
  }
  return 0;
}
