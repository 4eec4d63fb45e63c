#include "server/codec/SharedCompression.h"

#include <algorithm>

namespace ws2api::codec {

Deflater& SharedCompression::deflater(int windowBits)
{
    windowBits = std::clamp(windowBits, 9, 15);
    std::unique_ptr<Deflater>& d = deflaters_[static_cast<std::size_t>(windowBits)];
    if (!d) d = std::make_unique<Deflater>(windowBits, memLevel_, false);
    return *d;
}

Inflater& SharedCompression::inflater()
{
    // Window 15 decodes whatever window a client's compressor uses.
    if (!inflater_) inflater_ = std::make_unique<Inflater>(15, false);
    return *inflater_;
}

} // namespace ws2api::codec
