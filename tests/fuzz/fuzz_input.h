// The byte layout every fuzz target reads its input in, and the seed
// generator (make_seeds.cpp) writes: fields taken from the front, in order,
// so that a seed is a readable sequence of length-prefixed pieces and a
// mutation of one piece leaves the others where they were. Running out of
// bytes yields zeros and empty strings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace es::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size)
      : data_(reinterpret_cast<const char*>(data)), size_(size) {}

  bool empty() const { return offset_ >= size_; }

  template <typename T>
  T Int() {
    T value{};
    const size_t n = std::min(sizeof(T), size_ - offset_);
    std::memcpy(&value, data_ + offset_, n);
    offset_ += n;
    return value;
  }
  // A string of a u16 length (clamped to what is left) and its bytes.
  std::string_view Piece() {
    const size_t wanted = Int<uint16_t>();
    const size_t n = std::min(wanted, size_ - offset_);
    std::string_view piece(data_ + offset_, n);
    offset_ += n;
    return piece;
  }
  // A string of a u32 length.
  std::string_view LongPiece() {
    const size_t wanted = Int<uint32_t>();
    const size_t n = std::min(wanted, size_ - offset_);
    std::string_view piece(data_ + offset_, n);
    offset_ += n;
    return piece;
  }
  std::string_view Rest() {
    std::string_view rest(data_ + offset_, size_ - offset_);
    offset_ = size_;
    return rest;
  }

 private:
  const char* data_;
  size_t size_;
  size_t offset_ = 0;
};

// The writer's side.
class FuzzOutput {
 public:
  template <typename T>
  FuzzOutput& Int(T value) {
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof(T));
    return *this;
  }
  FuzzOutput& Piece(std::string_view piece) {
    Int<uint16_t>(static_cast<uint16_t>(piece.size()));
    bytes_.append(piece);
    return *this;
  }
  FuzzOutput& LongPiece(std::string_view piece) {
    Int<uint32_t>(static_cast<uint32_t>(piece.size()));
    bytes_.append(piece);
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// Crashes with a message: an invariant the target checks does not hold.
[[noreturn]] inline void Fail(const std::string& what) {
  fprintf(stderr, "fuzz invariant broken: %s\n", what.c_str());
  abort();
}

}  // namespace es::fuzz
