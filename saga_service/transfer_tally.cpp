#include "saga_service/transfer_tally.h"

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
  if (type == es::v1::MoneyTransferCreated::descriptor()->full_name()) return {.created = 1};
  if (type == es::v1::MoneyTransferCompleted::descriptor()->full_name()) return {.completed = 1};
  if (type == es::v1::MoneyTransferFailedDueToLackOfFunds::descriptor()->full_name() ||
      type == es::v1::MoneyTransferFailedDueToRefusedCredit::descriptor()->full_name()) {
    return {.failed = 1};
  }
  return {};
}

}  // namespace es::saga
