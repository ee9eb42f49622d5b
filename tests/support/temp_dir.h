// A fresh directory for one test, removed with everything in it when the
// TempDir goes out of scope (kept when ES_KEEP_TEST_DIRS is set, to look
// at a failed test's files).
#pragma once

#include <filesystem>
#include <string>

namespace es::testing {

class TempDir {
 public:
  // Creates $TMPDIR/es-test-XXXXXX (or /tmp/...). Throws std::runtime_error.
  TempDir();
  ~TempDir();

  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // path() / name, as a string.
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace es::testing
