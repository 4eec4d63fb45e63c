#pragma once
// RFC 9110 5.6.2: tchar, the characters of an HTTP token (method, header name,
// extension name and parameter). Shared by the handshake checks and the
// Sec-WebSocket-Extensions parser.
namespace ws2api::codec {

inline bool isTokenChar(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-': case '.':
    case '^': case '_': case '`': case '|': case '~':
        return true;
    default:
        return false;
    }
}

} // namespace ws2api::codec
