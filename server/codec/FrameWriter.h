#pragma once
// Encodes RFC 6455 frames. The server sends unmasked frames; tests and the
// benchmark client pass a masking key, as a client must.
#include "server/codec/Frame.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace ws2api::codec {

class Deflater;

class FrameWriter {
public:
    /// One frame; header chosen with the shortest length encoding.
    /// mask: nullptr for server frames, else 4 bytes to mask the payload with.
    /// rsv1: the payload is compressed (permessage-deflate; first frame of a message only).
    static std::string frame(Opcode opcode, std::string_view payload, bool fin = true,
                             const unsigned char* mask = nullptr, bool rsv1 = false);
    /// Appends the frame to out (avoids a copy on the hot path).
    static void appendFrame(std::string& out, Opcode opcode, std::string_view payload, bool fin = true,
                            const unsigned char* mask = nullptr, bool rsv1 = false);
    /// One data message as a single frame, compressed (RSV1 set) when a deflater
    /// is given and the payload has at least `threshold` bytes. A deflater
    /// without context takeover may leave a message uncompressed when that is
    /// not smaller; with takeover the compressed form is always sent (the
    /// peer's window must see every byte the compressor saw). Returns true
    /// when compressed; wireBytes = payload bytes in the frame. When the
    /// deflater fails (zlib out of memory) `failed` is set and the message
    /// goes uncompressed; the deflater stays off from then on, which the peer
    /// cannot tell from a choice (uncompressed messages never enter its window).
    static bool appendMessage(std::string& out, std::string_view payload, bool binary, Deflater* deflater,
                              std::size_t threshold, std::size_t& wireBytes, bool& failed);
    /// Close frame with code and reason; the reason is cut to fit the 125-byte
    /// control-frame limit without splitting a UTF-8 sequence.
    static std::string close(std::uint16_t code, std::string_view reason, const unsigned char* mask = nullptr);
};

} // namespace ws2api::codec
