#include "server/upstream/UpstreamTls.h"

#include "server/tls/InternalTls.h"

#include <Poco/Exception.h>
#include <Poco/Logger.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace ws2api {

namespace {
Poco::Logger& log() { return Poco::Logger::get("ws2api"); }

/// The SSL's ex_data slot that points at its loop's TlsSessionCache.
int cacheIndex()
{
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

/// OpenSSL's reason for the oldest error in this thread's queue (the queue is emptied).
std::string takeSslError()
{
    unsigned long first = ERR_get_error();
    ERR_clear_error();
    if (first == 0) return {};
    const char* reason = ERR_reason_error_string(first);
    if (reason) return reason;
    char buf[256];
    ERR_error_string_n(first, buf, sizeof buf);
    return buf;
}

bool isIpLiteral(const std::string& host)
{
    unsigned char addr[16];
    return ::inet_pton(AF_INET, host.c_str(), addr) == 1 || ::inet_pton(AF_INET6, host.c_str(), addr) == 1;
}

/// Throws the one-line start-up error for a file key.
[[noreturn]] void badFile(const char* key, const std::string& file, const std::string& why)
{
    throw Poco::InvalidArgumentException(std::string(key) + " '" + file + "': " + why);
}

/// A file key's file must be readable: say so plainly before OpenSSL's reason.
void checkReadable(const char* key, const std::string& file)
{
    std::ifstream in(file);
    if (!in) badFile(key, file, std::string("cannot read it: ") + std::strerror(errno));
}
} // namespace

// ---- TlsSessionCache ----

TlsSessionCache::~TlsSessionCache()
{
    if (session_) SSL_SESSION_free(session_);
}

void TlsSessionCache::store(SSL_SESSION* session)
{
    if (session_) SSL_SESSION_free(session_);
    session_ = session;
}

void TlsSessionCache::offer(SSL* ssl) const
{
    if (session_ && SSL_SESSION_is_resumable(session_)) SSL_set_session(ssl, session_);
}

// ---- UpstreamTls ----

UpstreamTls::UpstreamTls(const std::string& host, const Config& config, Metrics& metrics)
    : host_(host), hostIsIp_(isIpLiteral(host)), metrics_(metrics)
{
    ERR_clear_error();
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) throw Poco::InvalidArgumentException("upstream.url: cannot create a TLS context: " + takeSslError());
    try {
        SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
        // A keep-alive connection never needs a renegotiation; refusing it keeps
        // SSL_read from having to write in the middle of an answer.
        SSL_CTX_set_options(ctx_, SSL_OP_NO_RENEGOTIATION);
        // Partial writes: the connection keeps its own offset into the request
        // (as with send(2)). Released buffers: an idle kept-alive connection
        // holds no 16 KiB record buffers.
        SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                   SSL_MODE_RELEASE_BUFFERS);
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);

        const std::string caFile = InternalTls::resolvePath("upstream.ca_file",
                                                            config.getString(KeyId::UpstreamCaFile));
        if (caFile.empty()) {
            if (SSL_CTX_set_default_verify_paths(ctx_) != 1)
                throw Poco::InvalidArgumentException("upstream.url: cannot load the system CA store: " +
                                                     takeSslError());
        } else {
            checkReadable("upstream.ca_file", caFile);
            if (SSL_CTX_load_verify_file(ctx_, caFile.c_str()) != 1)
                badFile("upstream.ca_file", caFile, "no usable CA certificate in it (PEM expected): " + takeSslError());
        }

        const std::string certFile = InternalTls::resolvePath("upstream.client_cert_file",
                                                              config.getString(KeyId::UpstreamClientCertFile));
        const std::string keyFile = InternalTls::resolvePath("upstream.client_key_file",
                                                             config.getString(KeyId::UpstreamClientKeyFile));
        if (certFile.empty() != keyFile.empty())
            throw Poco::InvalidArgumentException(
                "upstream.client_cert_file and upstream.client_key_file go together: set both or neither");
        if (!certFile.empty()) {
            checkReadable("upstream.client_cert_file", certFile);
            checkReadable("upstream.client_key_file", keyFile);
            if (SSL_CTX_use_certificate_chain_file(ctx_, certFile.c_str()) != 1)
                badFile("upstream.client_cert_file", certFile, "not a usable PEM certificate: " + takeSslError());
            if (SSL_CTX_use_PrivateKey_file(ctx_, keyFile.c_str(), SSL_FILETYPE_PEM) != 1) {
                // OpenSSL checks the key against the certificate already loaded.
                const bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
                badFile("upstream.client_key_file", keyFile,
                        std::string(mismatch ? "does not belong to upstream.client_cert_file: "
                                             : "not a usable PEM private key: ") +
                            takeSslError());
            }
            if (SSL_CTX_check_private_key(ctx_) != 1)
                badFile("upstream.client_key_file", keyFile,
                        "does not belong to upstream.client_cert_file: " + takeSslError());
        }

        // Client-side session cache without OpenSSL's internal store: the
        // callback hands each new session to the loop of its connection.
        SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx_, &UpstreamTls::onNewSession);
        (void)cacheIndex();
    } catch (...) {
        SSL_CTX_free(ctx_);
        ctx_ = nullptr;
        throw;
    }
}

UpstreamTls::~UpstreamTls()
{
    if (ctx_) SSL_CTX_free(ctx_);
}

int UpstreamTls::onNewSession(SSL* ssl, SSL_SESSION* session)
{
    auto* cache = static_cast<TlsSessionCache*>(SSL_get_ex_data(ssl, cacheIndex()));
    if (!cache) return 0; // OpenSSL keeps ownership and frees it
    cache->store(session);
    return 1; // the reference is ours now
}

SSL* UpstreamTls::newConnection(int fd, TlsSessionCache& cache, std::string& error) const
{
    ERR_clear_error();
    SSL* ssl = SSL_new(ctx_);
    if (!ssl) {
        error = "TLS: cannot create a connection: " + takeSslError();
        return nullptr;
    }
    bool ok = SSL_set_fd(ssl, fd) == 1 && SSL_set_ex_data(ssl, cacheIndex(), &cache) == 1;
    if (ok && hostIsIp_) {
        // RFC 6066: no SNI for an IP literal; the certificate must name the IP.
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host_.c_str()) == 1;
    } else if (ok) {
        ok = SSL_set_tlsext_host_name(ssl, host_.c_str()) == 1 && SSL_set1_host(ssl, host_.c_str()) == 1;
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    }
    if (!ok) {
        error = "TLS: cannot set up the connection to '" + host_ + "': " + takeSslError();
        SSL_free(ssl);
        return nullptr;
    }
    cache.offer(ssl);
    SSL_set_connect_state(ssl);
    return ssl;
}

void UpstreamTls::handshakeDone(SSL* ssl)
{
    metrics_.upstreamTlsHandshakes.fetch_add(1, std::memory_order_relaxed);
    if (SSL_session_reused(ssl)) metrics_.upstreamTlsResumed.fetch_add(1, std::memory_order_relaxed);
    if (failing_.load(std::memory_order_relaxed) && failing_.exchange(false))
        log().information("upstream %s: TLS handshakes succeed again (after %s failed)", host_,
                          std::to_string(streakFailures_.exchange(0)));
}

void UpstreamTls::handshakeFailed(const std::string& reason)
{
    metrics_.upstreamTlsFailures.fetch_add(1, std::memory_order_relaxed);
    streakFailures_.fetch_add(1, std::memory_order_relaxed);
    if (!failing_.exchange(true))
        log().warning("upstream %s: TLS handshake failed: %s (clients get 502; not logged again until a handshake "
                      "succeeds; counted in upstream_tls_failures_total)",
                      host_, reason);
}

std::string UpstreamTls::describeFailure(SSL* ssl, int sslError, int savedErrno)
{
    const long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    std::string queued = takeSslError();
    if (verify != X509_V_OK) return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
    if (!queued.empty()) return queued;
    if (sslError == SSL_ERROR_SYSCALL && savedErrno != 0) return std::strerror(savedErrno);
    if (sslError == SSL_ERROR_ZERO_RETURN) return "the API closed the TLS connection";
    return "the API closed the connection";
}

} // namespace ws2api
