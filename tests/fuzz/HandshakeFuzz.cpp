// libFuzzer target for the upgrade-request parser: any bytes up to the blank
// line that ends an HTTP head. Checks that the parser answers one of the
// documented statuses and that an accepted request carries a valid ClientId
// and key. Invariants are checked with abort().
#include "common/ClientId.h"
#include "server/codec/Handshake.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string text(reinterpret_cast<const char*>(data), size);
    std::size_t end = ws2api::codec::Handshake::findHeadEnd(text);
    if (end == std::string::npos) text += "\r\n\r\n", end = text.size();
    ws2api::codec::HandshakeResult r = ws2api::codec::Handshake::parse(std::string_view(text).substr(0, end));
    if (r.ok) {
        if (!ws2api::ClientId::isValid(r.request.clientId)) std::abort();
        if (r.request.key.size() != 24) std::abort();
        const std::string encoded = ws2api::ClientId::encode(r.request.clientId);
        if (encoded.find_first_of("/?#") != std::string::npos) std::abort();
        for (char c : r.request.rawQuery)
            if (c == ' ' || c == '\r' || c == '\n' || c == '#') std::abort();
        std::string accept = ws2api::codec::Handshake::switchingProtocols(r.request.key, "");
        if (accept.find("\r\n\r\n") != accept.size() - 4) std::abort();
    } else if (r.httpStatus != 400 && r.httpStatus != 405 && r.httpStatus != 426) {
        std::abort();
    }
    return 0;
}
