#include "server/upstream/UpstreamEndpoint.h"

#include "server/upstream/ClientSession.h"

#include <Poco/Net/NetException.h>

namespace ws2api {

UpstreamEndpoint::UpstreamEndpoint(const Poco::URI& base, Config& config, Metrics& metrics)
    : base_(base), config_(config), metrics_(metrics)
{
    basePath_ = base_.getPath();
    if (basePath_.empty() || basePath_.back() != '/') basePath_ += '/';
    hostHeader_ = "Host: " + base_.getAuthority() + "\r\n";
    try {
        address_ = Poco::Net::SocketAddress(base_.getHost(), base_.getPort());
    } catch (const Poco::Exception& e) {
        throw Poco::Net::NetException("upstream.url '" + base_.toString() + "': cannot resolve host '" +
                                      base_.getHost() + "': " + e.message());
    }
    if (base_.getScheme() == "https") tls_ = std::make_unique<UpstreamTls>(base_.getHost(), config_, metrics_);
}

bool UpstreamEndpoint::tryAddMessageJob()
{
    const auto max = static_cast<std::size_t>(config_.getInt(KeyId::UpstreamMaxQueued));
    if (jobs_.fetch_add(1, std::memory_order_relaxed) >= max) {
        jobs_.fetch_sub(1, std::memory_order_relaxed);
        return false;
    }
    return true;
}

std::string UpstreamEndpoint::pathFor(const ClientSession& session, bool withQuery) const
{
    std::string path = basePath_ + session.encodedId;
    if (withQuery && !session.rawQuery.empty()) {
        path += '?';
        path += session.rawQuery;
    }
    return path;
}

std::string UpstreamEndpoint::buildRequest(const ClientSession& s, const UpstreamJob& job) const
{
    const char* method = "GET";
    const char* contentType = nullptr;
    bool forward = true;
    switch (job.kind) {
    case UpstreamKind::Connect: break;
    case UpstreamKind::Message:
        method = "POST";
        contentType = job.binary ? "application/octet-stream" : "text/plain; charset=utf-8";
        forward = config_.getBool(KeyId::UpstreamForwardOnMessages);
        break;
    case UpstreamKind::Disconnect:
        method = "DELETE";
        contentType = "text/plain; charset=utf-8";
        forward = config_.getBool(KeyId::UpstreamForwardOnMessages);
        break;
    }
    std::string r;
    r.reserve(160 + job.body.size() + (forward ? 256 : 0));
    r += method;
    r += ' ';
    r += pathFor(s, forward);
    r += " HTTP/1.1\r\n";
    r += hostHeader_;
    // Header values were checked at the handshake (no CR/LF, no control characters).
    if (forward) {
        std::string xff;
        for (const auto& h : s.forwardHeaders) {
            if (h.first == "X-Forwarded-For") {
                xff = h.second;
                continue;
            }
            r += h.first;
            r += ": ";
            r += h.second;
            r += "\r\n";
        }
        if (!s.peerAddress.empty()) xff = xff.empty() ? s.peerAddress : xff + ", " + s.peerAddress;
        if (!xff.empty()) {
            r += "X-Forwarded-For: ";
            r += xff;
            r += "\r\n";
        }
    }
    // Which bridge holds the session: an API behind several bridges ignores a
    // late DELETE from a node the client has already left (docs/SCALING.md).
    if (!nodeName_.empty()) {
        r += "X-Ws2api-Node: ";
        r += nodeName_;
        r += "\r\n";
    }
    if (job.kind != UpstreamKind::Connect || !job.body.empty()) {
        r += "Content-Length: ";
        r += std::to_string(job.body.size());
        r += "\r\n";
        if (contentType) {
            r += "Content-Type: ";
            r += contentType;
            r += "\r\n";
        }
    }
    r += "\r\n";
    r += job.body;
    return r;
}

} // namespace ws2api
