#pragma once
// Reads an internal-listener request's body with a size bound (pushes:
// limits.max_message_bytes; management calls: 1 MiB). A declared
// Content-Length over the bound is refused before anything is read.
#include <Poco/Net/HTTPServerRequest.h>

#include <istream>
#include <string>

namespace ws2api {

/// false when the body is (or is declared) larger than maxBytes; `body` then holds a part.
inline bool readBoundedBody(Poco::Net::HTTPServerRequest& request, std::size_t maxBytes, std::string& body)
{
    if (request.hasContentLength() && request.getContentLength64() > static_cast<Poco::Int64>(maxBytes)) return false;
    // Neither Content-Length nor chunked: a request has no body (RFC 9112 6.3);
    // reading POCO's stream would wait for the client to close the connection.
    if (!request.hasContentLength() && !request.getChunkedTransferEncoding()) return true;
    std::istream& in = request.stream();
    char buf[8192];
    while (in) {
        in.read(buf, sizeof buf);
        const std::streamsize n = in.gcount();
        if (n <= 0) break;
        if (body.size() + static_cast<std::size_t>(n) > maxBytes) return false;
        body.append(buf, static_cast<std::size_t>(n));
    }
    return true;
}

} // namespace ws2api
