// What makes a command id a command's one identity (guarantees 4 and 9):
//   - a request is checked before any state is read (arguments, and the id's
//     namespace); what fails here writes nothing and consumes no id;
//   - a repeat of an id must be the same command — same verb, target and
//     parameters — as its first use, which is read back from what that use
//     stored: its events, or the CommandAnswered record of a command that
//     changed nothing;
//   - ids starting "saga-" belong to the saga: a transfer's steps carry them,
//     no other command may.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "domain/decision.h"
#include "domain/event_codec.h"
#include "es/v1/command.pb.h"

namespace es::domain {

// The saga's command-id namespace (transfer_saga.h: "saga-<event id>").
inline constexpr std::string_view kSagaCommandIdPrefix = "saga-";

// True for the commands only the saga sends: a transfer's steps.
bool IsSagaStep(const es::v1::Command& command);

// The checks made before any state is read: a command id of 1..kMaxIdBytes
// (INVALID_ARGUMENT), a body, arguments each decider would refuse whatever
// the state (INVALID_ARGUMENT, INVALID_AMOUNT, SAME_ACCOUNT), and the id's
// namespace (COMMAND_ID_CONFLICT: a saga step outside "saga-", any other
// command inside it). Nothing if the command may be decided.
std::optional<Rejection> CheckRequest(const es::v1::Command& command);

// A digest of the command without its id: equal for the same command.
uint64_t CommandDigest(const es::v1::Command& command);

// The command that wrote a stored record, id aside, as far as the record
// tells: a CommandAnswered's command; for a domain event, the command that
// decides to it. Nothing for any other record.
std::optional<es::v1::Command> CommandOfRecord(std::string_view type, std::string_view data);

// Whether `repeat` is `first` again (ids aside). A field that `first` could
// not tell (a transfer credit's source, in events older than the field) is
// not compared.
bool SameCommand(const es::v1::Command& repeat, const es::v1::Command& first);

// The refusal for a repeat that is another command: names the first use.
Rejection CommandIdConflict(const es::v1::Command& repeat, std::string_view first_stream,
                            uint64_t first_version);

// The CommandAnswered record of `command`, whose `decision` wrote nothing.
EncodedEvent AnsweredRecord(const es::v1::Command& command, const Decision& decision);

// "es.v1.CommandAnswered".
const std::string& AnsweredRecordType();

}  // namespace es::domain
