#pragma once
// An event loop's permessage-deflate streams for connections without context
// takeover (compression.mode=shared, and the directions of a dedicated
// connection where no takeover was agreed): one Inflater, and one Deflater
// per window size a client asked for (9..15), each made on first use. They
// are reset for every message, so an idle connection holds no zlib state, and
// the same message gives the same bytes for every connection of the loop with
// the same window: a push to many of them is compressed once.
//
// Owned by its EventLoop; loop thread only.
#include "server/codec/Deflater.h"
#include "server/codec/Inflater.h"

#include <array>
#include <memory>

namespace ws2api::codec {

class SharedCompression {
public:
    /// memLevel: zlib memLevel of the deflaters made from now on (compression.mem_level).
    explicit SharedCompression(int memLevel = 8) : memLevel_(memLevel) {}

    void setMemLevel(int memLevel) { memLevel_ = memLevel; }
    /// windowBits 9..15 (clamped).
    Deflater& deflater(int windowBits);
    Inflater& inflater();

private:
    int memLevel_;
    std::array<std::unique_ptr<Deflater>, 16> deflaters_{};
    std::unique_ptr<Inflater> inflater_;
};

} // namespace ws2api::codec
