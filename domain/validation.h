// Argument rules shared by the deciders. Each returns the rejection for a
// bad argument, or nothing when the argument is acceptable.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>

#include "domain/decision.h"

namespace es::domain {

inline constexpr std::size_t kMaxIdBytes = 128;
inline constexpr std::size_t kMaxOwnerBytes = 200;

// An id (account, transfer) is 1..kMaxIdBytes bytes. `field` names it in the
// message. Refusal: INVALID_ARGUMENT.
std::optional<Rejection> CheckId(std::string_view field, std::string_view id);

// An owner is 1..kMaxOwnerBytes bytes. Refusal: INVALID_ARGUMENT.
std::optional<Rejection> CheckOwner(std::string_view owner);

// A moved amount is > 0. Refusal: INVALID_AMOUNT.
std::optional<Rejection> CheckAmount(int64_t amount);

// The first rejection among `checks` (in order), or nothing if all passed.
std::optional<Rejection> FirstRejection(std::initializer_list<std::optional<Rejection>> checks);

// balance + amount, or nothing if that overflows int64.
inline std::optional<int64_t> CheckedAdd(int64_t balance, int64_t amount) {
  int64_t sum = 0;
  if (__builtin_add_overflow(balance, amount, &sum)) return std::nullopt;
  return sum;
}

}  // namespace es::domain
