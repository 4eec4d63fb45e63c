#pragma once
// An HTTP/1.1 request as the internal listener received it and the answer a
// handler gives: plain values, no socket, no stream. The event loops parse
// requests into HttpRequest (HttpRequestParser) and write an HttpResponse out
// (serialize()); handlers on the loops and on the management workers only see
// these two types.
//
// The accessor names follow POCO's HTTPRequest/HTTPResponse (get, has,
// getMethod, setStatusAndReason, ...), so handlers read the same either way.
//
// Thread rules: values; a request or response belongs to whoever holds it.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ws2api {

struct HttpRequest {
    std::string method;  ///< as sent ("GET", "POST", ...)
    std::string target;  ///< the request target as sent: path and query, still percent-encoded
    std::string path;    ///< target up to '?'
    std::string query;   ///< after '?', without it ("" when none)
    std::vector<std::pair<std::string, std::string>> headers; ///< in order, names as sent
    std::string body;    ///< Content-Length or chunked body, de-chunked
    int httpMinor = 1;   ///< HTTP/1.<minor>
    bool keepAlive = true; ///< the connection stays open after the answer (http_should_keep_alive)
    bool chunked = false;  ///< the body came chunked
    bool upgrade = false;  ///< an Upgrade request: the bytes after it are not HTTP
    std::string peer;      ///< the caller's address (host only)

    /// The first header of that name (case-insensitive), or nullptr.
    const std::string* find(std::string_view name) const;
    bool has(std::string_view name) const { return find(name) != nullptr; }
    /// The header's value, or `fallback` when absent.
    std::string get(std::string_view name, const std::string& fallback = std::string()) const;
    const std::string& getMethod() const { return method; }
    const std::string& getURI() const { return target; }
    std::string getContentType() const { return get("Content-Type"); }
};

/// How large a request's body may be, and what the 413 names as the bound.
struct BodyBound {
    std::size_t bytes = 0;
    const char* name = "the bound"; ///< e.g. "limits.max_message_bytes" (a static string)
    /// Counted once when a request goes over the bound (pushes: pushes_failed), or nullptr.
    std::atomic<std::uint64_t>* overCounter = nullptr;
};

struct HttpResponse {
    int status = 200;
    const char* contentType = "text/plain; charset=utf-8"; ///< a static string ("" or nullptr: none)
    std::vector<std::pair<std::string, std::string>> headers; ///< besides Content-Type/-Length/Connection
    std::string body;
    bool close = false; ///< Connection: close, then the connection ends (e.g. an unread body)
    /// HEAD: the head says Content-Length of the body, but no body is sent.
    bool headOnly = false;
    /// With 101: the connection becomes the live event stream (GET /api/v1/events).
    /// The place among management.max_event_streams it holds (EventHub::openStream):
    /// given back when the last copy goes, whoever drops the answer or the stream.
    std::shared_ptr<void> eventStream;

    /// Sets (replaces) a header.
    void set(const std::string& name, const std::string& value);
    void setStatusAndReason(int code) { status = code; }
    void setContentType(const char* type) { contentType = type; }
    void setKeepAlive(bool keep) { close = !keep; }
    /// A plain-text answer.
    static HttpResponse text(int status, std::string body);
    /// A JSON answer (application/json).
    static HttpResponse json(int status, std::string body);

    /// The whole answer as it goes on the wire (HTTP/1.1).
    std::string serialize() const;
    /// The reason phrase for a status ("Not Found"); "Unknown" for codes we never send.
    static const char* reason(int status);
};

} // namespace ws2api
