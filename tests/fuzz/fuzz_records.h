// The record types the command and recovery targets pick from by index:
// every domain event type, then the host's own records, then one no
// aggregate knows.
#pragma once

#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "domain/aggregate.h"
#include "domain/command_identity.h"
#include "domain/domain_event.h"
#include "domain/event_codec.h"

namespace es::fuzz {

template <size_t... I>
std::vector<std::string> DomainTypeNames(std::index_sequence<I...>) {
  return {es::domain::TypeNameOf<std::variant_alternative_t<I, es::domain::DomainEvent>>()...};
}

inline const std::vector<std::string>& RecordTypes() {
  static const std::vector<std::string> types = [] {
    std::vector<std::string> names = DomainTypeNames(
        std::make_index_sequence<std::variant_size_v<es::domain::DomainEvent>>{});
    names.push_back(es::domain::AnsweredRecordType());
    names.push_back(es::domain::SnapshotType());
    names.push_back("x.Unknown");
    return names;
  }();
  return types;
}

// The index of `type` in RecordTypes() (the last, unknown, if absent).
inline uint8_t RecordTypeIndex(const std::string& type) {
  const auto& types = RecordTypes();
  for (size_t i = 0; i < types.size(); ++i) {
    if (types[i] == type) return static_cast<uint8_t>(i);
  }
  return static_cast<uint8_t>(types.size() - 1);
}

}  // namespace es::fuzz
