#pragma once
// The public listener's TLS configuration: one OpenSSL SSL_CTX made from
// tls.cert_file (the chain, leaf first) and tls.key_file, and its reload.
//
// Policy (docs/SECURITY.md, "wss:// on the public listener"): TLS 1.2 and 1.3
// only, OpenSSL's default cipher suites and groups, ALPN http/1.1, no
// renegotiation, session resumption by the server-side session cache (TLS 1.2
// session ids) and session tickets (TLS 1.2 and 1.3), whose keys survive a
// reload so clients keep resuming. SSL_MODE_RELEASE_BUFFERS: an idle
// connection holds no record buffers.
//
// Thread rules: any thread. newSession() (the loops, on accept) and reload()
// (SIGHUP, the management API) take a short lock. An SSL made before a reload
// keeps the SSL_CTX it was made from (OpenSSL counts the references), so open
// connections keep their certificate and new ones get the new one.
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace ws2api {

/// A certificate or key that cannot be used; what() is one line naming the file and the reason.
class TlsError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// What the current certificate is (the log, GET /api/v1/tls).
struct TlsCertificateInfo {
    std::string subject;   ///< e.g. "CN=bridge.example.com"
    std::string issuer;
    std::string serial;    ///< hex
    std::int64_t notAfter = 0; ///< unix seconds
};

class TlsContext {
public:
    /// Loads both files; throws TlsError (one line) when either cannot be used.
    TlsContext(std::string certFile, std::string keyFile);
    ~TlsContext();
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;

    /// Reads the same two files again into a new SSL_CTX and makes it the one
    /// new connections get. On failure the current one stays and `error` says why.
    bool reload(std::string& error);
    /// A server-side SSL for a new connection from the current SSL_CTX (caller owns it); nullptr when out of memory.
    SSL* newSession() const;
    TlsCertificateInfo certificate() const;
    const std::string& certFile() const { return certFile_; }
    const std::string& keyFile() const { return keyFile_; }

private:
    /// A configured SSL_CTX for the two files; throws TlsError.
    SSL_CTX* load() const;

    const std::string certFile_;
    const std::string keyFile_;
    mutable std::mutex mutex_;
    SSL_CTX* ctx_ = nullptr; ///< guarded by mutex_; one reference is ours
};

} // namespace ws2api
