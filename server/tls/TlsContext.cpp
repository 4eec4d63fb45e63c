#include "server/tls/TlsContext.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>

namespace ws2api {

namespace {

/// The first OpenSSL error of this thread (the cause; later ones say where it
/// surfaced), short ("PEM routines::no start line"); clears the queue.
std::string opensslReason()
{
    unsigned long code = ERR_peek_error();
    ERR_clear_error();
    if (code == 0) return "unknown OpenSSL error";
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    // "error:0480006C:PEM routines::no start line": drop the "error:<hex>:" prefix.
    std::string s(buf);
    std::size_t colon = s.find(':', 6);
    return colon != std::string::npos ? s.substr(colon + 1) : s;
}

/// The file can be opened for reading (the clearest message for a missing or unreadable file).
void checkReadable(const char* key, const std::string& path)
{
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) throw TlsError(std::string(key) + " '" + path + "': " + std::strerror(errno));
    std::fclose(f);
}

/// ALPN: http/1.1 when the client offers it (WebSocket upgrades are HTTP/1.1,
/// RFC 6455); a client that offers only other protocols gets no ALPN answer
/// rather than a failed handshake.
int selectAlpn(SSL*, const unsigned char** out, unsigned char* outLen, const unsigned char* in, unsigned int inLen,
               void*)
{
    static const unsigned char kHttp11[] = "\x08http/1.1";
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outLen, kHttp11, sizeof kHttp11 - 1, in, inLen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

std::string nameText(const X509_NAME* name)
{
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return {};
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

} // namespace

TlsContext::TlsContext(std::string certFile, std::string keyFile)
    : certFile_(std::move(certFile)), keyFile_(std::move(keyFile))
{
    ctx_ = load();
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

SSL_CTX* TlsContext::load() const
{
    checkReadable("tls.cert_file", certFile_);
    checkReadable("tls.key_file", keyFile_);
    ERR_clear_error();
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()), &SSL_CTX_free);
    if (!ctx) throw TlsError("TLS: cannot create a context: " + opensslReason());
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION); // and up to TLS 1.3 (the library's maximum)
    // No renegotiation (TLS 1.2): a client cannot make the server redo the
    // expensive half of a handshake on an open connection. An EOF without
    // close_notify is an ordinary EOF (browsers and many clients just close).
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    // Partial writes and a queued buffer that moves: the connection's outbound
    // queue retries a blocked SSL_write with the same bytes, not the same
    // address. RELEASE_BUFFERS: an idle connection gives its record buffers back.
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                    SSL_MODE_RELEASE_BUFFERS);
    static const unsigned char kSessionContext[] = "ws2api";
    SSL_CTX_set_session_id_context(ctx.get(), kSessionContext, sizeof kSessionContext - 1);
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_alpn_select_cb(ctx.get(), selectAlpn, nullptr);

    if (SSL_CTX_use_certificate_chain_file(ctx.get(), certFile_.c_str()) != 1)
        throw TlsError("tls.cert_file '" + certFile_ + "': not a usable PEM certificate chain (" + opensslReason() + ")");
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), keyFile_.c_str(), SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            throw TlsError("tls.key_file '" + keyFile_ + "' does not belong to the certificate in tls.cert_file '" +
                           certFile_ + "'");
        }
        throw TlsError("tls.key_file '" + keyFile_ + "': not a usable PEM private key (" + opensslReason() + ")");
    }
    if (SSL_CTX_check_private_key(ctx.get()) != 1)
        throw TlsError("tls.key_file '" + keyFile_ + "' does not belong to the certificate in tls.cert_file '" +
                       certFile_ + "'");
    return ctx.release();
}

bool TlsContext::reload(std::string& error)
{
    SSL_CTX* fresh = nullptr;
    try {
        fresh = load();
    } catch (const TlsError& e) {
        error = e.what();
        return false;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    // Session tickets issued under the old certificate stay valid: the ticket
    // keys move to the new context (the server-side TLS 1.2 session cache does not).
    unsigned char keys[80];
    if (SSL_CTX_get_tlsext_ticket_keys(ctx_, keys, sizeof keys) == 1)
        SSL_CTX_set_tlsext_ticket_keys(fresh, keys, sizeof keys);
    OPENSSL_cleanse(keys, sizeof keys);
    SSL_CTX_free(ctx_); // connections made from it hold their own references
    ctx_ = fresh;
    return true;
}

SSL* TlsContext::newSession() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return SSL_new(ctx_);
}

TlsCertificateInfo TlsContext::certificate() const
{
    TlsCertificateInfo info;
    std::lock_guard<std::mutex> lock(mutex_);
    X509* cert = SSL_CTX_get0_certificate(ctx_);
    if (!cert) return info;
    info.subject = nameText(X509_get_subject_name(cert));
    info.issuer = nameText(X509_get_issuer_name(cert));
    if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
        if (char* hex = BN_bn2hex(bn)) {
            info.serial = hex;
            OPENSSL_free(hex);
        }
        BN_free(bn);
    }
    std::tm tm{};
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1) info.notAfter = static_cast<std::int64_t>(timegm(&tm));
    return info;
}

} // namespace ws2api
