#pragma once
// TLS to an https:// API, on the loops' non-blocking upstream connections
// (OpenSSL directly: POCO's SecureStreamSocket blocks). One client SSL_CTX for
// the bridge: TLS 1.2 or later, the API's certificate verified against
// upstream.ca_file or the system store, its host name (or IP literal) checked,
// SNI sent for a host name, and the bridge's own certificate when
// upstream.client_cert_file is set (mutual TLS).
//
// Session resumption: every loop keeps the last session the API gave its
// connections (TlsSessionCache, one per UpstreamPool) and offers it on the next
// connection it opens, so a new keep-alive connection costs an abbreviated
// handshake (no certificate exchange or verification). With TLS 1.3 the
// sessions arrive as tickets after the handshake: OpenSSL hands them to the
// new-session callback, which stores them in the cache of the connection's loop.
//
// Failed handshakes are counted (upstream_tls_failures_total) and logged
// once per streak: the first failure with OpenSSL's reason, then nothing
// until a handshake succeeds again.
//
// Thread rules: built by the UpstreamEndpoint before the loops start; after
// that newConnection() and the streak methods may be called from any loop
// (SSL_CTX is thread-safe for that; the streak is an atomic). A
// TlsSessionCache is used by its own loop only.
#include "common/Config.h"
#include "server/metrics/Metrics.h"

#include <openssl/ssl.h>

#include <atomic>
#include <string>

namespace ws2api {

/// The last session an API gave this loop's connections. Loop thread only.
class TlsSessionCache {
public:
    TlsSessionCache() = default;
    ~TlsSessionCache();
    TlsSessionCache(const TlsSessionCache&) = delete;
    TlsSessionCache& operator=(const TlsSessionCache&) = delete;

    /// Takes ownership of `session` (frees the one it replaces).
    void store(SSL_SESSION* session);
    /// Offers the stored session (when still resumable) to a new connection.
    void offer(SSL* ssl) const;

private:
    SSL_SESSION* session_ = nullptr;
};

class UpstreamTls {
public:
    /// host: upstream.url's host. Reads upstream.ca_file, upstream.client_cert_file
    /// and upstream.client_key_file; throws Poco::InvalidArgumentException with
    /// one line naming the key and file when one cannot be used.
    UpstreamTls(const std::string& host, const Config& config, Metrics& metrics);
    ~UpstreamTls();
    UpstreamTls(const UpstreamTls&) = delete;
    UpstreamTls& operator=(const UpstreamTls&) = delete;

    /// A client SSL on `fd` (connect state, SNI set); its new sessions go to
    /// `cache`. nullptr with `error` set when OpenSSL cannot make one.
    SSL* newConnection(int fd, TlsSessionCache& cache, std::string& error) const;

    /// A handshake finished: counted; ends a failure streak (logged).
    void handshakeDone(SSL* ssl);
    /// A handshake failed: counted; the first of a streak is logged with `reason`.
    void handshakeFailed(const std::string& reason);

    /// Why the last call on `ssl` failed: the verification error when the
    /// certificate did not verify, else OpenSSL's error queue or errno.
    static std::string describeFailure(SSL* ssl, int sslError, int savedErrno);

private:
    static int onNewSession(SSL* ssl, SSL_SESSION* session);

    SSL_CTX* ctx_ = nullptr;
    std::string host_;
    bool hostIsIp_ = false;
    Metrics& metrics_;
    std::atomic<bool> failing_{false};
    std::atomic<std::uint64_t> streakFailures_{0};
};

} // namespace ws2api
