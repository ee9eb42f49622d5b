// The ways the store_service binary is run by the process-level store
// tests: each storage engine (--engine), and the log engine with small
// segments so that roll-over happens under load. A TEST_P parameter.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace es::testing {

struct StoreVariant {
  std::string name;               // the test name suffix
  std::string engine;             // the --engine value
  std::vector<std::string> args;  // --engine and anything else
};

inline std::vector<StoreVariant> StoreEngineVariants() {
  return {
      {"Sqlite", "sqlite", {"--engine", "sqlite"}},
      {"Log", "log", {"--engine", "log"}},
  };
}

// The engines, and the log engine rolling over every 64 KiB.
inline std::vector<StoreVariant> StoreEngineVariantsWithSmallSegments() {
  std::vector<StoreVariant> variants = StoreEngineVariants();
  variants.push_back({"LogSmallSegments", "log", {"--engine", "log", "--segment-bytes", "65536"}});
  return variants;
}

inline std::string StoreVariantName(const ::testing::TestParamInfo<StoreVariant>& info) {
  return info.param.name;
}

// `variant`'s arguments followed by `extra`.
inline std::vector<std::string> VariantArgs(const StoreVariant& variant,
                                            const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = variant.args;
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

}  // namespace es::testing
