#pragma once
// Parsing of the client's upgrade request and formatting of the responses the
// public listener sends. Pure: the caller owns the socket and the buffer.
// Request parsing is POCO's (HTTPRequest::read); we only decide what the
// bridge accepts.
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ws2api::codec {

/// What the bridge keeps of an accepted upgrade request.
struct UpgradeRequest {
    std::string clientId;  ///< decoded and validated (ClientId rules)
    std::string rawQuery;  ///< query string without '?', checked to hold only URI query characters
    std::string key;       ///< Sec-WebSocket-Key
    std::string protocols; ///< Sec-WebSocket-Protocol offer, as sent (may be empty)
    std::string extensions; ///< every Sec-WebSocket-Extensions value, joined with ", " (may be empty)
    /// Headers passed to the upstream: Cookie, Authorization, Origin,
    /// Sec-WebSocket-Protocol, User-Agent and X-Forwarded-For, as received.
    std::vector<std::pair<std::string, std::string>> forwardHeaders;
};

struct HandshakeResult {
    bool ok = false;
    int httpStatus = 0;  ///< when !ok: 400, 405 or 426
    std::string message; ///< when !ok: why, for the response body and the log
    UpgradeRequest request;
};

class Handshake {
public:
    /// Offset just past the "\r\n\r\n" that ends the request head, or npos.
    static std::size_t findHeadEnd(std::string_view buffer);

    /// Parses a complete request head (up to and including the blank line).
    static HandshakeResult parse(std::string_view head);

    /// Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)).
    static std::string acceptKey(std::string_view key);

    /// "101 Switching Protocols" with the accept key, the subprotocol the
    /// upstream chose (empty: no Sec-WebSocket-Protocol header) and the
    /// negotiated extensions (empty: no Sec-WebSocket-Extensions header).
    static std::string switchingProtocols(std::string_view key, std::string_view protocol,
                                          std::string_view extensions = {});

    /// A complete HTTP/1.1 error response with a text body and Connection: close.
    static std::string errorResponse(int status, std::string_view body);
};

} // namespace ws2api::codec
