#include "server/http/HttpMessage.h"

#include <strings.h>

namespace ws2api {

namespace {
bool equalsIgnoreCase(std::string_view a, std::string_view b)
{
    return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}
} // namespace

const std::string* HttpRequest::find(std::string_view name) const
{
    for (const auto& h : headers)
        if (equalsIgnoreCase(h.first, name)) return &h.second;
    return nullptr;
}

std::string HttpRequest::get(std::string_view name, const std::string& fallback) const
{
    const std::string* v = find(name);
    return v ? *v : fallback;
}

void HttpResponse::set(const std::string& name, const std::string& value)
{
    for (auto& h : headers)
        if (equalsIgnoreCase(h.first, name)) {
            h.second = value;
            return;
        }
    headers.emplace_back(name, value);
}

HttpResponse HttpResponse::text(int status, std::string body)
{
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

HttpResponse HttpResponse::json(int status, std::string body)
{
    HttpResponse r;
    r.status = status;
    r.contentType = "application/json";
    r.body = std::move(body);
    return r;
}

const char* HttpResponse::reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Request Entity Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

std::string HttpResponse::serialize() const
{
    std::string out;
    out.reserve(128 + body.size());
    out += "HTTP/1.1 ";
    out += std::to_string(status);
    out += ' ';
    out += reason(status);
    out += "\r\n";
    if (status == 101) { // an upgrade: the handler's headers say it all
        for (const auto& [k, v] : headers) out.append(k).append(": ").append(v).append("\r\n");
        out += "\r\n";
        return out;
    }
    if (contentType && *contentType) out.append("Content-Type: ").append(contentType).append("\r\n");
    out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    for (const auto& [k, v] : headers) out.append(k).append(": ").append(v).append("\r\n");
    if (close) out += "Connection: close\r\n";
    out += "\r\n";
    if (!headOnly) out += body;
    return out;
}

} // namespace ws2api
