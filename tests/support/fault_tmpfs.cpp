#include "tests/support/fault_tmpfs.h"

#include <sys/mount.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace es::testing {

TmpfsMount::~TmpfsMount() { Unmount(); }

std::string TmpfsMount::Mount(const std::string& path, const std::string& size) {
  if (mounted_) return "already mounted on " + path_;
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) return "cannot create " + path + ": " + error.message();
  const std::string options = "size=" + size + ",mode=0755";
  if (mount("tmpfs", path.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
    const int saved = errno;
    permission_denied_ = saved == EPERM || saved == EACCES;
    return "mount -t tmpfs -o " + options + " tmpfs " + path + ": " + std::strerror(saved);
  }
  path_ = path;
  mounted_ = true;
  return "";
}

std::string TmpfsMount::Resize(const std::string& size) {
  if (!mounted_) return "not mounted";
  const std::string options = "size=" + size;
  if (mount("tmpfs", path_.c_str(), "tmpfs", MS_REMOUNT | MS_NOSUID | MS_NODEV, options.c_str()) !=
      0) {
    return "mount -o remount," + options + " " + path_ + ": " + std::strerror(errno);
  }
  return "";
}

void TmpfsMount::Unmount() {
  if (!mounted_) return;
  // A process that still has files open there (a service the test could not
  // stop) makes it busy: detach it now, the kernel frees it when they close.
  if (umount2(path_.c_str(), 0) != 0) umount2(path_.c_str(), MNT_DETACH);
  mounted_ = false;
}

uint64_t TmpfsMount::FreeBytes() const {
  struct statvfs stats {};
  if (!mounted_ || statvfs(path_.c_str(), &stats) != 0) return 0;
  return static_cast<uint64_t>(stats.f_bavail) * stats.f_frsize;
}

}  // namespace es::testing
