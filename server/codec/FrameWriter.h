#pragma once
// Encodes RFC 6455 frames. The server sends unmasked frames; tests and the
// benchmark client pass a masking key, as a client must.
#include "server/codec/Frame.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace ws2api::codec {

class FrameWriter {
public:
    /// One frame; header chosen with the shortest length encoding.
    /// mask: nullptr for server frames, else 4 bytes to mask the payload with.
    static std::string frame(Opcode opcode, std::string_view payload, bool fin = true,
                             const unsigned char* mask = nullptr);
    /// Appends the frame to out (avoids a copy on the hot path).
    static void appendFrame(std::string& out, Opcode opcode, std::string_view payload, bool fin = true,
                            const unsigned char* mask = nullptr);
    /// Close frame with code and reason; the reason is cut to fit the 125-byte
    /// control-frame limit without splitting a UTF-8 sequence.
    static std::string close(std::uint16_t code, std::string_view reason, const unsigned char* mask = nullptr);
};

} // namespace ws2api::codec
