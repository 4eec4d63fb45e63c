#pragma once
// RFC 6455 masking (5.3), shared by the parser (unmasking client frames) and
// the writer (masking, for clients): XOR with the 4-byte key, 8 bytes a step.
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ws2api::codec {

/// XORs `n` bytes of payload that start at byte `offset` of the frame's payload.
inline void applyMask(char* data, std::size_t n, const unsigned char* mask, std::uint64_t offset = 0)
{
    unsigned char key[8];
    for (unsigned i = 0; i < 8; ++i) key[i] = mask[(offset + i) & 3];
    std::uint64_t word;
    std::memcpy(&word, key, sizeof word);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t v;
        std::memcpy(&v, data + i, sizeof v);
        v ^= word;
        std::memcpy(data + i, &v, sizeof v);
    }
    for (; i < n; ++i) data[i] = static_cast<char>(static_cast<unsigned char>(data[i]) ^ key[i & 7]);
}

} // namespace ws2api::codec
