// How many money transfers the saga has seen created, completed and failed,
// counted from the transfer events themselves so that the numbers can be
// rebuilt exactly by replaying the event stream from any checkpoint.
#pragma once

#include <cstdint>
#include <string_view>

namespace es::saga {

struct TransferTally {
  uint64_t created = 0;    // MoneyTransferCreated
  uint64_t completed = 0;  // MoneyTransferCompleted
  uint64_t failed = 0;     // MoneyTransferFailedDueToLackOfFunds or ...DueToRefusedCredit

  TransferTally& operator+=(const TransferTally& other);
  bool operator==(const TransferTally& other) const = default;

  // Created but neither completed nor failed yet.
  uint64_t in_flight() const;
};

// What one stored event of type `type` (its full protobuf name, e.g.
// "es.v1.MoneyTransferCreated") adds to the tally: at most one count, and
// nothing for every other event type.
TransferTally TallyOfEvent(std::string_view type);

}  // namespace es::saga
