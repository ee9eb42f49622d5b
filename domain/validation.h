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
// The largest amount one command moves (and the largest initial balance):
// 10^15 minor units, ten trillion in a two-decimal currency. Far below
// INT64_MAX (9.2 x 10^18), so that no single movement comes near overflow;
// what makes a refund impossible to refuse is the account's ceiling
// (account.h), not this cap alone.
inline constexpr int64_t kMaxAmount = 1'000'000'000'000'000;

// An id (account, transfer) is 1..kMaxIdBytes bytes. `field` names it in the
// message. Refusal: INVALID_ARGUMENT.
std::optional<Rejection> CheckId(std::string_view field, std::string_view id);

// An owner is 1..kMaxOwnerBytes bytes. Refusal: INVALID_ARGUMENT.
std::optional<Rejection> CheckOwner(std::string_view owner);

// A moved amount is 1..kMaxAmount. Refusal: INVALID_AMOUNT.
std::optional<Rejection> CheckAmount(int64_t amount);

// The argument rules of `command`'s verb, which hold whatever the state:
// ids, owner, amounts (INVALID_ARGUMENT, INVALID_AMOUNT), a transfer to its
// own source (SAME_ACCOUNT), a failure without a reason. Nothing if they
// hold. Every decider applies them first; command_service applies them
// before it reads any state (command_identity.h).
std::optional<Rejection> CheckArguments(const es::v1::Command& command);

// The first rejection among `checks` (in order), or nothing if all passed.
std::optional<Rejection> FirstRejection(std::initializer_list<std::optional<Rejection>> checks);

// balance + amount, or nothing if that overflows int64.
inline std::optional<int64_t> CheckedAdd(int64_t balance, int64_t amount) {
  int64_t sum = 0;
  if (__builtin_add_overflow(balance, amount, &sum)) return std::nullopt;
  return sum;
}

}  // namespace es::domain
