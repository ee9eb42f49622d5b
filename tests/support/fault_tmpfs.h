// A small filesystem that one test owns: a tmpfs of a given size mounted on a
// directory the test created, for filling the disk on purpose. Needs root
// (CAP_SYS_ADMIN); Mount says when the kernel refuses, so the test can skip.
// The destructor unmounts, lazily if something still has files open there,
// so a failing test never leaves a mount behind.
#pragma once

#include <cstdint>
#include <string>

namespace es::testing {

class TmpfsMount {
 public:
  TmpfsMount() = default;
  ~TmpfsMount();
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;

  // Creates `path` (if missing) and mounts a tmpfs of `size` ("2m", "16m",
  // ...) on it. Returns "" on success, else why not; permission_denied()
  // then says whether the kernel refused for lack of privilege.
  std::string Mount(const std::string& path, const std::string& size);
  // Changes the size of the mounted tmpfs (mount -o remount,size=...). Its
  // files stay. Returns "" or why not.
  std::string Resize(const std::string& size);
  // Unmounts (lazily if busy). Safe to call twice.
  void Unmount();

  bool mounted() const { return mounted_; }
  bool permission_denied() const { return permission_denied_; }
  const std::string& path() const { return path_; }
  // Bytes still free on the filesystem (statvfs), 0 if unknown.
  uint64_t FreeBytes() const;

 private:
  std::string path_;
  bool mounted_ = false;
  bool permission_denied_ = false;
};

}  // namespace es::testing
