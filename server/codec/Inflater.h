#pragma once
// The decompressing half of permessage-deflate (RFC 7692 7.2.2): the 00 00 ff
// ff tail is appended to the message and raw DEFLATE is inflated in bounded
// chunks, never beyond maxBytes + 1 bytes of output: a "zip bomb" costs at
// most the message limit in memory and time, then it is refused (1009).
//
// Without context takeover the stream is reset before every message: one
// Inflater per event loop serves all its connections. With context takeover
// (dedicated mode) it belongs to one connection and keeps its window across
// messages, also when the client ends a message with a final block (BFINAL).
// The zlib state is allocated on first use.
//
// Not thread-safe: one owner (an event loop) uses it.
#include <cstddef>
#include <string>
#include <string_view>

#include <zlib.h>

namespace ws2api::codec {

class Inflater {
public:
    enum class Result : unsigned char {
        Ok,
        TooBig,  ///< more than maxBytes decompressed: stopped there
        BadData, ///< not valid DEFLATE: error() says why
    };

    /// windowBits 8..15: the window the peer's compressor may use.
    Inflater(int windowBits, bool contextTakeover);
    ~Inflater();
    Inflater(const Inflater&) = delete;
    Inflater& operator=(const Inflater&) = delete;

    /// Decompresses one whole message (all its frames' payloads) into out
    /// (replaced). After TooBig or BadData the stream is unusable for a
    /// connection with context takeover (the caller closes it); a shared
    /// stream is reset by the next call.
    Result inflate(std::string_view compressed, std::string& out, std::size_t maxBytes);
    const std::string& error() const { return error_; }

    /// zlib's own figure for the state it allocates (inflateInit2 in zlib.h).
    static std::size_t stateBytes(int windowBits);

private:
    bool init();
    /// Feeds `in` to the stream; false when done early (TooBig/BadData in result).
    bool run(const unsigned char* in, std::size_t size, std::string& out, std::size_t maxBytes, Result& result);

    z_stream zs_{};
    const int windowBits_;
    const bool takeover_;
    bool initialised_ = false;
    bool ended_ = false; ///< the last message ended with a final block
    std::string error_;
};

} // namespace ws2api::codec
