#include "saga_service/transfer_tally.h"

#include "domain/event_codec.h"
#include "es/v1/bank.pb.h"

namespace es::saga {

TransferTally& TransferTally::operator+=(const TransferTally& other) {
  created += other.created;
  completed += other.completed;
  failed += other.failed;
  return *this;
}

uint64_t TransferTally::in_flight() const {
  const uint64_t finished = completed + failed;
  // Never negative, even for a tally that started mid-stream.
  return created > finished ? created - finished : 0;
}

TransferTally TallyOfEvent(std::string_view type) {
  if (type == es::domain::TypeNameOf<es::v1::MoneyTransferCreated>()) return {.created = 1};
  if (type == es::domain::TypeNameOf<es::v1::MoneyTransferCompleted>()) return {.completed = 1};
  if (type == es::domain::TypeNameOf<es::v1::MoneyTransferFailedDueToLackOfFunds>() ||
      type == es::domain::TypeNameOf<es::v1::MoneyTransferFailedDueToRefusedCredit>()) {
    return {.failed = 1};
  }
  return {};
}

}  // namespace es::saga
