#include "domain/validation.h"

#include <string>

namespace es::domain {

std::optional<Rejection> CheckId(std::string_view field, std::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes) {
    return Rejection{
        es::v1::REFUSAL_CODE_INVALID_ARGUMENT,
        std::string(field) + " must be 1 to " + std::to_string(kMaxIdBytes) + " bytes"};
  }
  return std::nullopt;
}

std::optional<Rejection> CheckOwner(std::string_view owner) {
  if (owner.empty() || owner.size() > kMaxOwnerBytes) {
    return Rejection{es::v1::REFUSAL_CODE_INVALID_ARGUMENT,
                     "owner must be 1 to " + std::to_string(kMaxOwnerBytes) + " bytes"};
  }
  return std::nullopt;
}

std::optional<Rejection> CheckAmount(int64_t amount) {
  if (amount <= 0) {
    return Rejection{es::v1::REFUSAL_CODE_INVALID_AMOUNT,
                     "amount must be > 0, got " + std::to_string(amount)};
  }
  return std::nullopt;
}

std::optional<Rejection> FirstRejection(std::initializer_list<std::optional<Rejection>> checks) {
  for (const std::optional<Rejection>& check : checks) {
    if (check) return check;
  }
  return std::nullopt;
}

}  // namespace es::domain
