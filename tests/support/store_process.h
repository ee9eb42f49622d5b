// Starts the real store_service binary for a test: data in `dir`/store,
// both sockets on tcp://127.0.0.1 with ports chosen by the system, log in
// `dir`/store.log. endpoint("requests") and endpoint("events") say where.
#pragma once

#include <string>
#include <vector>

#include "tests/support/service_process.h"
#include "tests/support/temp_dir.h"

namespace es::testing {

// The store's arguments for `dir`, followed by `extra_args`.
std::vector<std::string> StoreArgs(const TempDir& dir, const std::vector<std::string>& extra_args);

// Starts the store on `dir` (the same dir again after a stop: it recovers).
ServiceProcess StartStore(const TempDir& dir, const std::vector<std::string>& extra_args = {});

}  // namespace es::testing
