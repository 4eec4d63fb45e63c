#include "server/codec/Deflater.h"

#include <algorithm>
#include <cstring>

namespace ws2api::codec {

namespace {
const unsigned char kTail[4] = {0x00, 0x00, 0xff, 0xff};
}

Deflater::Deflater(int windowBits, int memLevel, bool contextTakeover)
    : windowBits_(std::clamp(windowBits, 9, 15)), memLevel_(std::clamp(memLevel, 1, 9)), takeover_(contextTakeover)
{
}

Deflater::~Deflater()
{
    if (initialised_) deflateEnd(&zs_);
}

std::size_t Deflater::stateBytes(int windowBits, int memLevel)
{
    // zlib.h: "deflate memory usage (bytes) = (1 << (windowBits+2)) + (1 << (memLevel+9))" plus ~6 KB of state.
    return (std::size_t{1} << (windowBits + 2)) + (std::size_t{1} << (memLevel + 9)) + 6 * 1024;
}

bool Deflater::init()
{
    if (initialised_) return true;
    if (broken_) return false;
    std::memset(&zs_, 0, sizeof zs_);
    if (deflateInit2(&zs_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -windowBits_, memLevel_, Z_DEFAULT_STRATEGY) != Z_OK) {
        broken_ = true;
        return false;
    }
    initialised_ = true;
    return true;
}

bool Deflater::compress(std::string_view message, std::string& out)
{
    if (!init()) return false;
    if (!takeover_ && deflateReset(&zs_) != Z_OK) {
        deflateEnd(&zs_);
        initialised_ = false;
        broken_ = true;
        return false;
    }
    const std::size_t start = out.size();
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
    zs_.avail_in = static_cast<uInt>(message.size());
    // deflateBound covers Z_FINISH; a sync flush adds at most its 5-byte empty block (and 6 more per
    // pending bit buffer): start there and grow only if zlib asks.
    std::size_t room = deflateBound(&zs_, static_cast<uLong>(message.size())) + 16;
    for (;;) {
        const std::size_t have = out.size();
        out.resize(have + room);
        zs_.next_out = reinterpret_cast<Bytef*>(&out[have]);
        zs_.avail_out = static_cast<uInt>(room);
        const int rc = deflate(&zs_, Z_SYNC_FLUSH);
        out.resize(have + room - zs_.avail_out);
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            out.resize(start);
            deflateEnd(&zs_);
            initialised_ = false;
            broken_ = true;
            return false;
        }
        if (zs_.avail_in == 0 && zs_.avail_out != 0) break; // everything flushed
        room = std::max<std::size_t>(room, 1024);
    }
    // A sync flush ends with an empty stored block, 00 00 ff ff: RFC 7692 7.2.1 removes it.
    if (out.size() - start >= 4 && std::memcmp(out.data() + out.size() - 4, kTail, 4) == 0) out.resize(out.size() - 4);
    return true;
}

} // namespace ws2api::codec
