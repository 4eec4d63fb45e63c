#include "server/codec/Inflater.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace ws2api::codec {

namespace {
const unsigned char kTail[4] = {0x00, 0x00, 0xff, 0xff};
constexpr std::size_t kFirstChunk = 4096;
} // namespace

Inflater::Inflater(int windowBits, bool contextTakeover)
    : windowBits_(std::clamp(windowBits, 8, 15)), takeover_(contextTakeover)
{
}

Inflater::~Inflater()
{
    if (initialised_) inflateEnd(&zs_);
}

std::size_t Inflater::stateBytes(int windowBits)
{
    // zlib.h: "inflate memory usage (bytes) = (1 << windowBits)" plus ~7 KB of state.
    return (std::size_t{1} << windowBits) + 7 * 1024;
}

bool Inflater::init()
{
    if (initialised_) return true;
    std::memset(&zs_, 0, sizeof zs_);
    if (inflateInit2(&zs_, -windowBits_) != Z_OK) return false;
    initialised_ = true;
    return true;
}

Inflater::Result Inflater::inflate(std::string_view compressed, std::string& out, std::size_t maxBytes)
{
    out.clear();
    error_.clear();
    if (!init()) {
        error_ = "out of memory for the decompressor";
        return Result::BadData;
    }
    if (!takeover_ || ended_) {
        // Shared stream: every message stands alone. (A takeover stream that
        // ended with a final block was already restarted with its window.)
        if (!takeover_) inflateReset(&zs_);
        ended_ = false;
    }
    Result result = Result::Ok;
    if (!run(reinterpret_cast<const unsigned char*>(compressed.data()), compressed.size(), out, maxBytes, result))
        return result;
    if (ended_) return Result::Ok; // a final block ended the message: the tail is not part of it
    run(kTail, sizeof kTail, out, maxBytes, result);
    return result;
}

bool Inflater::run(const unsigned char* in, std::size_t size, std::string& out, std::size_t maxBytes, Result& result)
{
    zs_.next_in = const_cast<Bytef*>(in);
    zs_.avail_in = static_cast<uInt>(size);
    for (;;) {
        const std::size_t have = out.size();
        // At most maxBytes + 1 bytes ever come out: one more than allowed proves "too big".
        const std::size_t chunk = std::min(std::max(kFirstChunk, have), maxBytes + 1 - have);
        out.resize(have + chunk);
        zs_.next_out = reinterpret_cast<Bytef*>(&out[have]);
        zs_.avail_out = static_cast<uInt>(chunk);
        const int rc = ::inflate(&zs_, Z_SYNC_FLUSH);
        const bool outputFull = zs_.avail_out == 0;
        out.resize(have + chunk - zs_.avail_out);
        if (out.size() > maxBytes) {
            result = Result::TooBig;
            return false;
        }
        if (rc == Z_STREAM_END) {
            // A final block ends the message; what follows it is not decompressed
            // (RFC 7692 7.2.2; its 7.2.3.4 example has a byte after the block).
            ended_ = true;
            if (takeover_) {
                // The client may still refer to this message's bytes: start the next
                // stream with the window this one ended with.
                std::vector<Bytef> dict(std::size_t{1} << windowBits_);
                uInt len = static_cast<uInt>(dict.size());
                if (inflateGetDictionary(&zs_, dict.data(), &len) != Z_OK || inflateReset(&zs_) != Z_OK ||
                    (len > 0 && inflateSetDictionary(&zs_, dict.data(), len) != Z_OK)) {
                    error_ = "could not restart the decompressor";
                    result = Result::BadData;
                    return false;
                }
            }
            return true;
        }
        if (rc == Z_OK || rc == Z_BUF_ERROR) {
            if (zs_.avail_in == 0 && !outputFull) return true; // all input used, all output out
            if (rc == Z_BUF_ERROR && !outputFull) {            // no progress with input and room left
                error_ = "deflate stream stalled";
                result = Result::BadData;
                return false;
            }
            continue;
        }
        error_ = zs_.msg ? zs_.msg : "invalid deflate data";
        result = Result::BadData;
        return false;
    }
}

} // namespace ws2api::codec
