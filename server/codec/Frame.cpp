#include "server/codec/Frame.h"

namespace ws2api::codec {

bool isValidCloseCode(std::uint16_t code)
{
    // 1004 is reserved, 1005/1006/1015 must never appear on the wire, 1016-2999
    // are unassigned or reserved for extensions, 5000+ are undefined.
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

} // namespace ws2api::codec
