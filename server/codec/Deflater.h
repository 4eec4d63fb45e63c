#pragma once
// The compressing half of permessage-deflate (RFC 7692 7.2.1): raw DEFLATE,
// each message ended with a sync flush whose 00 00 ff ff tail is removed.
//
// Without context takeover the stream is reset before every message, so the
// output depends on the message alone: one Deflater per event loop serves
// every connection of that loop (and a message sent to many of them is
// compressed once). With context takeover the stream belongs to one
// connection. The zlib state is allocated on first use and kept.
//
// Not thread-safe: one owner (an event loop) uses it.
#include <cstddef>
#include <string>
#include <string_view>

#include <zlib.h>

namespace ws2api::codec {

class Deflater {
public:
    /// windowBits 9..15 (zlib's raw deflate has no 8), memLevel 1..9.
    Deflater(int windowBits, int memLevel, bool contextTakeover);
    ~Deflater();
    Deflater(const Deflater&) = delete;
    Deflater& operator=(const Deflater&) = delete;

    /// Appends the compressed message to out. False only if zlib fails
    /// (out of memory): then nothing was appended, and every later call
    /// fails too (send uncompressed from then on).
    bool compress(std::string_view message, std::string& out);

    bool contextTakeover() const { return takeover_; }
    /// zlib failed once: compress() will not be tried again.
    bool broken() const { return broken_; }
    int windowBits() const { return windowBits_; }
    /// zlib's own figure for the state it allocates (deflateInit2 in zlib.h).
    static std::size_t stateBytes(int windowBits, int memLevel);

private:
    bool init();

    z_stream zs_{};
    const int windowBits_;
    const int memLevel_;
    const bool takeover_;
    bool initialised_ = false;
    bool broken_ = false;
};

} // namespace ws2api::codec
