#pragma once
// Incremental HTTP/1.1 request parser for the internal listener: bytes in,
// one request out at a time, no socket I/O. Like HttpResponseParser it wraps
// nodejs http_parser 2.9 (Debian: libhttp-parser-dev), which does the HTTP
// parsing; this class collects what its callbacks report and enforces our
// bounds.
//
// Use: feed() the bytes a read gave until it says Complete (take() the
// request, then feed the rest again: pipelined requests come one by one) or
// Error (answer errorStatus() and close: the stream cannot be trusted after).
//
//  - Content-Length and chunked bodies (extensions ignored, trailers read and
//    dropped); a request with neither has no body (RFC 9112 6.3).
//  - the head (request target, header names and values, 4 bytes per header
//    line) is bounded by maxHeadBytes: 431 over it.
//  - the body is bounded per request: bodyLimit(head) is asked once the head
//    is in, and a declared Content-Length over it is refused (413) before a
//    byte of the body is read; a chunked body as soon as it would go over.
//    The bound's counter (if any) counts the refusal.
//  - an Upgrade request (GET /api/v1/events) ends the HTTP stream: the
//    request is Complete with upgrade set, the bytes after it are left.
//  - Expect: 100-continue is reported (expectContinue()) as soon as the head
//    is in, so the connection can send the interim answer.
#include "server/http/HttpMessage.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

struct http_parser;
struct http_parser_settings;

namespace ws2api {

class HttpRequestParser {
public:
    enum class Status : std::uint8_t { NeedMore, Complete, Error };
    using BodyLimit = std::function<BodyBound(const HttpRequest& head)>;

    HttpRequestParser(std::size_t maxHeadBytes, BodyLimit bodyLimit);
    ~HttpRequestParser();
    HttpRequestParser(const HttpRequestParser&) = delete;
    HttpRequestParser& operator=(const HttpRequestParser&) = delete;

    /// Feeds bytes; stops after one complete request (`consumed`: bytes used).
    /// size 0 is a no-op. After Error nothing more is consumed.
    Status feed(const char* data, std::size_t size, std::size_t& consumed);
    /// The complete request; the parser is then ready for the next one.
    HttpRequest take();

    /// A request has begun and is not complete (for the slow-request timer).
    bool midRequest() const { return started_; }
    /// The current request's head asked for "100 Continue" and its body has not come (once per request).
    bool takeExpectContinue();
    int errorStatus() const { return errorStatus_; } ///< 400, 413, 431, 501 or 505 after Error
    const std::string& error() const { return error_; } ///< one line after Error
    void setMaxHeadBytes(std::size_t max) { maxHeadBytes_ = max; }

private:
    static int onMessageBegin(http_parser* p);
    static int onUrl(http_parser* p, const char* at, std::size_t len);
    static int onHeaderField(http_parser* p, const char* at, std::size_t len);
    static int onHeaderValue(http_parser* p, const char* at, std::size_t len);
    static int onHeadersComplete(http_parser* p);
    static int onBody(http_parser* p, const char* at, std::size_t len);
    static int onMessageComplete(http_parser* p);
    static int onChunkHeader(http_parser* p);
    static const http_parser_settings& settings();

    bool countHead(std::size_t len);
    int fail(int status, std::string message);
    int tooLarge();

    std::unique_ptr<http_parser> parser_;
    std::size_t maxHeadBytes_;
    BodyLimit bodyLimit_;
    std::size_t maxBody_ = 0;
    const char* maxBodyName_ = "";
    std::atomic<std::uint64_t>* overCounter_ = nullptr;
    Status state_ = Status::NeedMore;
    bool started_ = false;
    bool lastWasValue_ = true;
    bool inTrailers_ = false;
    bool expectContinue_ = false;
    std::size_t headBytes_ = 0;
    HttpRequest request_;
    int errorStatus_ = 0;
    std::string error_;
};

} // namespace ws2api
