// The saga's checkpoint file: what a crash, a disk or a hand left in it.
// The input is the file's bytes. ParseCheckpoint accepts exactly what
// FormatCheckpoint produces (so a parsed checkpoint formats back to the same
// bytes), LoadCheckpoint of the same bytes on disk agrees with it, and a
// checkpoint stored and loaded back is itself.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "saga_service/checkpoint_file.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

std::filesystem::path WorkDir() {
  static const std::filesystem::path dir = [] {
    // tmpfs when there is one: the target fsyncs every store.
    const char* base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string pattern = std::string(base) + "/es-fuzz-checkpoint-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) abort();
    return std::filesystem::path(pattern);
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  const std::optional<es::saga::SagaCheckpoint> parsed = es::saga::ParseCheckpoint(text, &error);
  if (parsed) {
    if (es::saga::FormatCheckpoint(*parsed) != text) {
      es::fuzz::Fail("a checkpoint parsed from bytes it does not format to");
    }
  } else if (error.empty() || error.find('\n') != std::string::npos) {
    es::fuzz::Fail("a refused checkpoint without a one-line reason: '" + error + "'");
  }

  const std::filesystem::path file = es::saga::CheckpointFileIn(WorkDir());
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  const es::saga::CheckpointLoad load = es::saga::LoadCheckpoint(file);
  if (parsed) {
    if (load.status != es::saga::CheckpointLoad::Status::kLoaded || load.checkpoint != *parsed) {
      es::fuzz::Fail("LoadCheckpoint disagrees with ParseCheckpoint: " + load.error);
    }
    es::saga::SagaCheckpoint next = *parsed;
    next.position += 1;
    if (!es::saga::StoreCheckpoint(file, next, &error)) es::fuzz::Fail("store failed: " + error);
    const es::saga::CheckpointLoad again = es::saga::LoadCheckpoint(file);
    if (again.status != es::saga::CheckpointLoad::Status::kLoaded || again.checkpoint != next) {
      es::fuzz::Fail("a stored checkpoint did not load back");
    }
  } else if (load.status != es::saga::CheckpointLoad::Status::kInvalid) {
    es::fuzz::Fail("LoadCheckpoint took bytes ParseCheckpoint refuses");
  }
  return 0;
}
