#pragma once
// Incremental HTTP/1.1 response parser for the upstream client: bytes in, one
// response out, no socket I/O. A wrapper around nodejs http_parser 2.9
// (Debian: libhttp-parser-dev), which does all of the HTTP parsing; this class
// only collects what its callbacks report and enforces our limits.
//
// Use, per request on a connection (one request at a time, no pipelining):
//   reset(maxBody)  -> feed() each read until Complete or Error -> feedEof() on EOF
// feed() accepts any split of the stream (one byte at a time works).
//
// What it does with the protocol:
//  - 1xx interim responses (100 Continue, 102, 103) are read and dropped; the
//    final response that follows is the one reported. 101 Switching Protocols
//    is an Error: we never ask for an upgrade.
//  - bodies delimited by Content-Length, chunked (extensions ignored, trailers
//    read and dropped) or, with neither, by the peer closing (feedEof()).
//  - 1xx, 204 and 304 responses and answers to HEAD never have a body, even
//    when they carry Content-Length or Transfer-Encoding.
//  - keepAlive() is http_should_keep_alive(): HTTP/1.1 unless "Connection:
//    close", HTTP/1.0 only with "Connection: keep-alive", never for an
//    EOF-delimited body.
//  - a Content-Length over maxBody is an Error as soon as the head is parsed;
//    chunked and EOF-delimited bodies as soon as a chunk size or the data
//    would go over it. Nothing over maxBody is ever buffered.
//  - the head is capped at kMaxHeadBytes ("upstream response head too large"):
//    reason phrase, header names and values plus 4 bytes per header line,
//    summed over the interim 1xx heads and the trailers too, since reset().
//    http_parser adds its own cap of 80 KB on each raw head, whitespace
//    included (HPE_HEADER_OVERFLOW).
//  - after Complete nothing more is consumed: bytes after the response are
//    left to the caller (for us: a desynchronised connection, close it).
// After Complete or Error, feed() consumes nothing until the next reset().
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// <http_parser.h> stays out of this header (its HTTP_* names would leak).
struct http_parser;
struct http_parser_settings;

namespace ws2api {

class HttpResponseParser {
public:
    enum class Status : std::uint8_t { NeedMore, Complete, Error };

    /// Default body limit of the constructor: limits.max_message_bytes' default.
    static constexpr std::size_t kDefaultMaxBody = 1024 * 1024;
    /// Cap on the kept head: status text plus every header name and value.
    static constexpr std::size_t kMaxHeadBytes = 16 * 1024;

    HttpResponseParser(); // ready for the first response (kDefaultMaxBody, not HEAD)
    ~HttpResponseParser();
    HttpResponseParser(const HttpResponseParser&) = delete;
    HttpResponseParser& operator=(const HttpResponseParser&) = delete;

    /// Before each request. maxBody: larger bodies are an Error ("upstream reply
    /// larger than limits.max_message_bytes"). headRequest: the answer to HEAD has no body.
    void reset(std::size_t maxBody, bool headRequest = false);

    /// Feeds bytes; stops at the end of the response. `consumed` = bytes used;
    /// bytes after a Complete response are not consumed. size 0 is a no-op
    /// (NeedMore unless already finished), never an EOF: EOF is feedEof().
    Status feed(const char* data, std::size_t size, std::size_t& consumed);

    /// The peer closed the connection. Complete if the response is delimited by
    /// EOF and its head arrived (or it was already complete); otherwise Error.
    Status feedEof();

    bool started() const { return started_; } // at least one byte arrived since reset()
    bool complete() const { return state_ == Status::Complete; }
    int status() const { return status_; }    // HTTP status code of the final response, 0 before its head
    int httpMajor() const { return httpMajor_; }
    int httpMinor() const { return httpMinor_; }
    const std::string& reason() const { return reason_; } // reason phrase of the status line
    bool keepAlive() const { return keepAlive_; }          // http_should_keep_alive after Complete, else false

    const std::string& body() const { return body_; }
    std::string takeBody() { return std::move(body_); }

    /// Value of a response header, case-insensitive name (first occurrence), "" if absent.
    const std::string& header(std::string_view name) const;
    /// Every header of the final response, in order, as received (trailers not included).
    const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }

    const std::string& error() const { return error_; } // one short line when Error

private:
    static int onMessageBegin(http_parser* p);
    static int onStatus(http_parser* p, const char* at, std::size_t len);
    static int onHeaderField(http_parser* p, const char* at, std::size_t len);
    static int onHeaderValue(http_parser* p, const char* at, std::size_t len);
    static int onHeadersComplete(http_parser* p);
    static int onBody(http_parser* p, const char* at, std::size_t len);
    static int onMessageComplete(http_parser* p);
    static int onChunkHeader(http_parser* p);
    static const http_parser_settings& settings();

    bool countHead(std::size_t len); // false (and error_ set) over kMaxHeadBytes
    int fail(std::string message);   // sets error_, returns the "stop" value for a callback
    Status failFromParser();         // Error with http_errno_description, unless error_ is set

    std::unique_ptr<http_parser> parser_;
    std::size_t maxBody_ = kDefaultMaxBody;
    bool headRequest_ = false;
    Status state_ = Status::NeedMore;
    bool started_ = false;
    bool inHead_ = false;      // between message begin and headers complete
    bool inTrailers_ = false;  // header callbacks after the head are trailers: dropped
    bool lastWasValue_ = true; // header callbacks: a field after a value starts a new header
    bool headDone_ = false;    // the final response's head arrived
    std::size_t headBytes_ = 0;
    int status_ = 0;
    int httpMajor_ = 0;
    int httpMinor_ = 0;
    bool keepAlive_ = false;
    std::string reason_;
    std::vector<std::pair<std::string, std::string>> headers_;
    std::string body_;
    std::string error_;
};

} // namespace ws2api
