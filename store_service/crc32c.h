// CRC-32C (Castagnoli), the checksum of the log engine's records: the SSE4.2
// crc32 instruction when the CPU has it (checked once, at run time), else a
// table. Crc32c("123456789") == 0xE3069283.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace es::store {

// Extends `crc` (the CRC of earlier bytes; 0 for none) over `size` bytes.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);

inline uint32_t Crc32c(const void* data, size_t size) { return Crc32cExtend(0, data, size); }
inline uint32_t Crc32c(std::string_view bytes) { return Crc32c(bytes.data(), bytes.size()); }

// Whether the hardware instruction is in use (for logs and benchmarks).
bool Crc32cIsHardware();

}  // namespace es::store
