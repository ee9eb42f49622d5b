// The saga's durable checkpoint: how far it has handled the event stream, and
// the transfer tally of everything up to there.
//
// File format (text, every line ending in '\n', nothing else in the file):
//
//   es-saga-checkpoint=1
//   position=<decimal uint64>
//   transfers_created=<decimal uint64>
//   transfers_completed=<decimal uint64>
//   transfers_failed=<decimal uint64>
//   fnv1a64=<16 lower-case hex digits: FNV-1a 64 of every byte above>
//
// Replacement is atomic (temp file, fsync, rename, fsync of the directory), so
// a crash leaves either the old or the new checkpoint, never a mix. A file
// that does not parse exactly, or whose checksum does not match, is corrupt:
// the saga refuses to start rather than guess where it was.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "saga_service/transfer_tally.h"

namespace es::saga {

struct SagaCheckpoint {
  // Every event at or below this global position has been handled (0: none).
  uint64_t position = 0;
  // Counted over the events at or below `position`.
  TransferTally transfers;

  bool operator==(const SagaCheckpoint& other) const = default;
};

// Where the checkpoint lives inside the saga's data directory.
std::filesystem::path CheckpointFileIn(const std::filesystem::path& data_dir);

// The file's exact bytes for `checkpoint`.
std::string FormatCheckpoint(const SagaCheckpoint& checkpoint);

// The inverse of FormatCheckpoint: nothing (and `*error` set to a one-line
// reason, if given) unless `text` is exactly what FormatCheckpoint produces.
std::optional<SagaCheckpoint> ParseCheckpoint(std::string_view text, std::string* error = nullptr);

struct CheckpointLoad {
  enum class Status {
    kLoaded,   // `checkpoint` is the stored one
    kMissing,  // no file: a fresh start, `checkpoint` is SagaCheckpoint{}
    kInvalid,  // unreadable or corrupt: `error` says why; do not start
  };
  Status status = Status::kMissing;
  SagaCheckpoint checkpoint;
  std::string error;
};

// Reads the checkpoint stored in `file`.
CheckpointLoad LoadCheckpoint(const std::filesystem::path& file);

// Durably replaces `file` with `checkpoint`: once this returns true the new
// checkpoint survives a crash or power loss. The directory must exist. On
// failure returns false with `*error` set; the previous file is untouched.
bool StoreCheckpoint(const std::filesystem::path& file, const SagaCheckpoint& checkpoint,
                     std::string* error);

}  // namespace es::saga
