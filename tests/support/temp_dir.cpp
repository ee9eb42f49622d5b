#include "tests/support/temp_dir.h"

#include <stdlib.h>

#include <cstring>
#include <stdexcept>
#include <system_error>

namespace es::testing {

TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/es-test-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  if (std::getenv("ES_KEEP_TEST_DIRS") != nullptr) return;
  std::error_code ignored;  // a destructor has no one to report to
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace es::testing
