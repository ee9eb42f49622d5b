#include "tests/support/store_process.h"

namespace es::testing {

std::vector<std::string> StoreArgs(const TempDir& dir, const std::vector<std::string>& extra_args) {
  std::vector<std::string> args = {"--data-dir",        dir.File("store"), "--bind-requests",
                                   "tcp://127.0.0.1:*", "--bind-events",   "tcp://127.0.0.1:*"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  return args;
}

ServiceProcess StartStore(const TempDir& dir, const std::vector<std::string>& extra_args) {
  return ServiceProcess::Start(BinaryPath("store_service"), StoreArgs(dir, extra_args),
                               dir.File("store.log"));
}

}  // namespace es::testing
