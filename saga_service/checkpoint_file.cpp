#include "saga_service/checkpoint_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <system_error>

namespace es::saga {
namespace {

constexpr std::string_view kFormatLine = "es-saga-checkpoint=1";
// A valid file is about 150 bytes; anything much larger is not ours.
constexpr std::uintmax_t kMaxFileBytes = 4096;

// The keys of the numeric lines, in file order.
constexpr std::array<std::string_view, 4> kFieldKeys = {"position", "transfers_created",
                                                        "transfers_completed", "transfers_failed"};
constexpr std::string_view kChecksumKey = "fnv1a64";

uint64_t Fnv1a64(std::string_view bytes) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char byte : bytes) {
    hash ^= byte;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::string Hex64(uint64_t value) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(value));
  return buf;
}

std::string ErrnoText(const std::string& what, const std::filesystem::path& path) {
  return what + " " + path.string() + ": " + std::strerror(errno);
}

// Takes the next '\n'-terminated line off the front of `*text`.
std::optional<std::string_view> TakeLine(std::string_view* text) {
  const size_t end = text->find('\n');
  if (end == std::string_view::npos) return std::nullopt;
  std::string_view line = text->substr(0, end);
  text->remove_prefix(end + 1);
  return line;
}

// The value of a "<key>=<value>" line, or nothing if the key differs.
std::optional<std::string_view> ValueOf(std::string_view line, std::string_view key) {
  if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != '=') {
    return std::nullopt;
  }
  return line.substr(key.size() + 1);
}

// A canonical decimal uint64: digits only, no sign, no leading zero.
std::optional<uint64_t> ParseDecimal(std::string_view digits) {
  if (digits.empty() || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

// Writes all of `bytes` to `fd`, riding out short writes and signals.
bool WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(written));
  }
  return true;
}

// fsync of a directory, so that a rename inside it is durable.
bool SyncDirectory(const std::filesystem::path& dir, std::string* error) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    *error = ErrnoText("cannot open directory", dir);
    return false;
  }
  const bool synced = ::fsync(fd) == 0;
  if (!synced) *error = ErrnoText("cannot fsync directory", dir);
  ::close(fd);
  return synced;
}

}  // namespace

std::filesystem::path CheckpointFileIn(const std::filesystem::path& data_dir) {
  return data_dir / "checkpoint";
}

std::string FormatCheckpoint(const SagaCheckpoint& checkpoint) {
  const std::array<uint64_t, kFieldKeys.size()> values = {
      checkpoint.position, checkpoint.transfers.created, checkpoint.transfers.completed,
      checkpoint.transfers.failed};
  std::string text(kFormatLine);
  text += '\n';
  for (size_t i = 0; i < kFieldKeys.size(); ++i) {
    text += std::string(kFieldKeys[i]) + "=" + std::to_string(values[i]) + "\n";
  }
  text += std::string(kChecksumKey) + "=" + Hex64(Fnv1a64(text)) + "\n";
  return text;
}

std::optional<SagaCheckpoint> ParseCheckpoint(std::string_view text, std::string* error) {
  auto fail = [error](std::string reason) -> std::optional<SagaCheckpoint> {
    if (error != nullptr) *error = std::move(reason);
    return std::nullopt;
  };
  const std::string_view whole = text;
  auto format = TakeLine(&text);
  if (!format || *format != kFormatLine) {
    return fail("the first line is not \"" + std::string(kFormatLine) + "\"");
  }
  std::array<uint64_t, kFieldKeys.size()> values{};
  for (size_t i = 0; i < kFieldKeys.size(); ++i) {
    auto line = TakeLine(&text);
    auto value = line ? ValueOf(*line, kFieldKeys[i]) : std::nullopt;
    auto number = value ? ParseDecimal(*value) : std::nullopt;
    if (!number) {
      return fail("line " + std::to_string(i + 2) + " is not \"" + std::string(kFieldKeys[i]) +
                  "=<decimal number>\"");
    }
    values[i] = *number;
  }
  const std::string_view summed = whole.substr(0, whole.size() - text.size());
  auto checksum_line = TakeLine(&text);
  auto checksum = checksum_line ? ValueOf(*checksum_line, kChecksumKey) : std::nullopt;
  if (!checksum) return fail("the checksum line is missing");
  if (*checksum != Hex64(Fnv1a64(summed))) return fail("the checksum does not match the content");
  if (!text.empty()) return fail("unexpected bytes after the checksum line");
  return SagaCheckpoint{
      .position = values[0],
      .transfers = {.created = values[1], .completed = values[2], .failed = values[3]}};
}

CheckpointLoad LoadCheckpoint(const std::filesystem::path& file) {
  CheckpointLoad load;
  std::error_code ec;
  const auto status = std::filesystem::status(file, ec);
  if (status.type() == std::filesystem::file_type::not_found) return load;  // kMissing
  load.status = CheckpointLoad::Status::kInvalid;
  if (ec) {
    load.error = "cannot examine " + file.string() + ": " + ec.message();
    return load;
  }
  if (status.type() != std::filesystem::file_type::regular) {
    load.error = file.string() + " is not a regular file";
    return load;
  }
  const auto size = std::filesystem::file_size(file, ec);
  if (ec || size > kMaxFileBytes) {
    load.error = file.string() + (ec ? ": " + ec.message() : " is too large to be a checkpoint");
    return load;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    load.error = ErrnoText("cannot open", file);
    return load;
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    load.error = ErrnoText("cannot read", file);
    return load;
  }
  std::string reason;
  auto checkpoint = ParseCheckpoint(text, &reason);
  if (!checkpoint) {
    load.error = file.string() + " is corrupt: " + reason;
    return load;
  }
  load.status = CheckpointLoad::Status::kLoaded;
  load.checkpoint = *checkpoint;
  return load;
}

bool StoreCheckpoint(const std::filesystem::path& file, const SagaCheckpoint& checkpoint,
                     std::string* error) {
  std::filesystem::path temp = file;
  temp += ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = ErrnoText("cannot create", temp);
    return false;
  }
  const bool written = WriteAll(fd, FormatCheckpoint(checkpoint));
  if (!written) *error = ErrnoText("cannot write", temp);
  const bool synced = written && ::fsync(fd) == 0;
  if (written && !synced) *error = ErrnoText("cannot fsync", temp);
  ::close(fd);
  if (!synced) {
    ::unlink(temp.c_str());
    return false;
  }
  if (::rename(temp.c_str(), file.c_str()) != 0) {
    *error = ErrnoText("cannot rename " + temp.string() + " to", file);
    ::unlink(temp.c_str());
    return false;
  }
  const std::filesystem::path dir = file.has_parent_path() ? file.parent_path() : ".";
  return SyncDirectory(dir, error);
}

}  // namespace es::saga
