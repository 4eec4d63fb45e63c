#include "server/codec/Handshake.h"

#include "common/ClientId.h"
#include "server/codec/HttpToken.h"

#include <Poco/Base64Encoder.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/SHA1Engine.h>
#include <Poco/String.h>

#include <cctype>
#include <sstream>

namespace ws2api::codec {

namespace {
const char* const kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const char* const kForwarded[] = {"Cookie", "Authorization", "Origin", "Sec-WebSocket-Protocol", "User-Agent",
                                  "X-Forwarded-For"};

// RFC 3986 query characters plus '%' escapes; anything else could smuggle
// syntax into the upstream request line.
bool isQueryChar(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
    case '-': case '.': case '_': case '~': case '!': case '$': case '&': case '\'': case '(': case ')':
    case '*': case '+': case ',': case ';': case '=': case ':': case '@': case '/': case '?': case '%':
        return true;
    default:
        return false;
    }
}

bool headerHasToken(const std::string& value, const char* token)
{
    std::istringstream in(value);
    std::string part;
    while (std::getline(in, part, ',')) {
        if (Poco::icompare(Poco::trim(part), std::string(token)) == 0) return true;
    }
    return false;
}

HandshakeResult reject(int status, std::string message)
{
    HandshakeResult r;
    r.ok = false;
    r.httpStatus = status;
    r.message = std::move(message);
    return r;
}
} // namespace

std::size_t Handshake::findHeadEnd(std::string_view buffer)
{
    std::size_t pos = buffer.find("\r\n\r\n");
    return pos == std::string_view::npos ? std::string_view::npos : pos + 4;
}

namespace {
// RFC 9112 syntax that POCO's lenient parser lets through: the request line
// is exactly three parts, every header line is "token: value", lines end in
// CRLF, and no control character but HTAB appears anywhere. Anything else is
// refused before it can reach the upstream request.
bool wellFormedHead(std::string_view head, std::string& why)
{
    std::size_t lineNo = 0;
    std::size_t pos = 0;
    while (pos < head.size()) {
        std::size_t eol = head.find("\r\n", pos);
        if (eol == std::string_view::npos) {
            why = "request head does not end in CRLF";
            return false;
        }
        std::string_view line = head.substr(pos, eol - pos);
        pos = eol + 2;
        if (line.empty()) break; // end of head
        for (unsigned char c : line) {
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                why = "control character in the request head";
                return false;
            }
        }
        if (lineNo++ == 0) {
            std::size_t sp1 = line.find(' ');
            std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
            if (sp1 == 0 || sp2 == std::string_view::npos || sp2 == sp1 + 1 ||
                line.find(' ', sp2 + 1) != std::string_view::npos || line.substr(sp2 + 1).rfind("HTTP/", 0) != 0) {
                why = "malformed request line";
                return false;
            }
            for (std::size_t i = 0; i < sp1; ++i)
                if (!isTokenChar(static_cast<unsigned char>(line[i]))) {
                    why = "malformed request method";
                    return false;
                }
            continue;
        }
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            why = "malformed header line";
            return false;
        }
        for (std::size_t i = 0; i < colon; ++i)
            if (!isTokenChar(static_cast<unsigned char>(line[i]))) {
                why = "malformed header name";
                return false;
            }
    }
    return true;
}
} // namespace

HandshakeResult Handshake::parse(std::string_view head)
{
    std::string why;
    if (!wellFormedHead(head, why)) return reject(400, "malformed HTTP request: " + why);
    Poco::Net::HTTPRequest request;
    try {
        std::istringstream in{std::string(head)};
        request.read(in);
    } catch (const Poco::Exception& e) {
        return reject(400, "malformed HTTP request: " + e.message());
    }
    if (request.getVersion() != Poco::Net::HTTPMessage::HTTP_1_1)
        return reject(400, "HTTP/1.1 is required for a WebSocket upgrade");

    const std::string& target = request.getURI();
    if (target.empty() || target[0] != '/') return reject(400, "request target must start with /");

    std::string path = target;
    std::string query;
    std::size_t q = target.find('?');
    if (q != std::string::npos) {
        path = target.substr(0, q);
        query = target.substr(q + 1);
    }
    std::size_t hash = query.find('#');
    if (hash != std::string::npos) query.erase(hash);
    for (unsigned char c : query)
        if (!isQueryChar(c)) return reject(400, "query string holds characters that must be percent-encoded");

    // ClientId = first path segment; a trailing slash is tolerated, more segments are not.
    std::string segment = path.substr(1);
    if (!segment.empty() && segment.back() == '/') segment.pop_back();
    if (segment.find('/') != std::string::npos) return reject(400, "path must be /<ClientId>");

    if (request.getMethod() != Poco::Net::HTTPRequest::HTTP_GET) {
        return reject(405, "only GET with Upgrade: websocket is served here; pushes go to the internal listener");
    }

    bool upgrade = headerHasToken(request.get("Upgrade", ""), "websocket");
    bool connectionUpgrade = headerHasToken(request.get("Connection", ""), "upgrade");
    if (!upgrade || !connectionUpgrade) return reject(400, "this is a WebSocket endpoint: send Upgrade: websocket");

    HandshakeResult result;
    std::string reason;
    if (!ClientId::parse(segment, result.request.clientId, reason)) return reject(400, reason);

    if (request.get("Sec-WebSocket-Version", "") != "13") return reject(426, "Sec-WebSocket-Version 13 is required");

    std::string key = Poco::trim(request.get("Sec-WebSocket-Key", ""));
    // A key is 16 random bytes in base64: 24 characters ending in "==".
    if (key.size() != 24 || key.compare(22, 2, "==") != 0) return reject(400, "missing or malformed Sec-WebSocket-Key");
    for (std::size_t i = 0; i < 22; ++i) {
        unsigned char c = static_cast<unsigned char>(key[i]);
        if (!std::isalnum(c) && c != '+' && c != '/') return reject(400, "missing or malformed Sec-WebSocket-Key");
    }

    result.ok = true;
    result.request.rawQuery = std::move(query);
    result.request.key = std::move(key);
    result.request.protocols = request.get("Sec-WebSocket-Protocol", "");
    for (const auto& field : request) {
        if (Poco::icompare(field.first, std::string("Sec-WebSocket-Extensions")) != 0) continue;
        if (!result.request.extensions.empty()) result.request.extensions += ", ";
        result.request.extensions += field.second;
    }
    for (const char* name : kForwarded) {
        // Several headers of one name are joined as RFC 9110 allows.
        std::string joined;
        bool found = false;
        for (const auto& field : request) {
            if (Poco::icompare(field.first, std::string(name)) != 0) continue;
            if (found) joined += (Poco::icompare(std::string(name), "Cookie") == 0) ? "; " : ", ";
            joined += field.second;
            found = true;
        }
        if (found) result.request.forwardHeaders.emplace_back(name, std::move(joined));
    }
    return result;
}

std::string Handshake::acceptKey(std::string_view key)
{
    Poco::SHA1Engine sha1;
    sha1.update(key.data(), static_cast<unsigned>(key.size()));
    sha1.update(kGuid);
    const Poco::DigestEngine::Digest& digest = sha1.digest();
    std::ostringstream out;
    Poco::Base64Encoder encoder(out);
    encoder.write(reinterpret_cast<const char*>(digest.data()), static_cast<std::streamsize>(digest.size()));
    encoder.close();
    return out.str();
}

std::string Handshake::switchingProtocols(std::string_view key, std::string_view protocol, std::string_view extensions)
{
    std::string out;
    out.reserve(160);
    out += "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
    out += acceptKey(key);
    out += "\r\n";
    if (!protocol.empty()) {
        out += "Sec-WebSocket-Protocol: ";
        out += protocol;
        out += "\r\n";
    }
    if (!extensions.empty()) {
        out += "Sec-WebSocket-Extensions: ";
        out += extensions;
        out += "\r\n";
    }
    out += "\r\n";
    return out;
}

std::string Handshake::errorResponse(int status, std::string_view body)
{
    std::string reason =
        Poco::Net::HTTPResponse::getReasonForStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
    if (status == 426) out += "Sec-WebSocket-Version: 13\r\n";
    out += "Content-Type: text/plain; charset=utf-8\r\nContent-Length: " + std::to_string(body.size() + 1) +
           "\r\nConnection: close\r\n\r\n";
    out += body;
    out += '\n';
    return out;
}

} // namespace ws2api::codec
