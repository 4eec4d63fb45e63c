#include "server/tls/InternalTls.h"

#include "common/Config.h"
#include "common/ConfigKeys.h"
#include "common/CredentialPath.h"

#include <Poco/Exception.h>
#include <Poco/Net/SSLException.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ws2api {

namespace {
/// Opens the file the way the service will, for a message better than OpenSSL's "system lib".
void checkReadable(const char* key, const std::string& path)
{
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) throw Poco::InvalidArgumentException(std::string(key) + " '" + path + "': " + std::strerror(errno));
    std::fclose(f);
}
} // namespace

std::string InternalTls::opensslErrors(const std::string& fallback)
{
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        out += (out.empty() ? "" : "; ") + std::string(buf);
    }
    return out.empty() ? fallback : out;
}

std::string InternalTls::resolvePath(const char* key, const std::string& value)
{
    std::string path, error;
    if (!resolveCredentialPath(key, value, path, error)) throw Poco::InvalidArgumentException(error);
    return path;
}

Poco::Net::Context::Ptr InternalTls::serverContext(const Config& config)
{
    const std::string certValue = config.getString(KeyId::InternalTlsCertFile);
    const std::string keyValue = config.getString(KeyId::InternalTlsKeyFile);
    if (certValue.empty() && keyValue.empty()) return nullptr;
    if (certValue.empty() || keyValue.empty())
        throw Poco::InvalidArgumentException(
            "internal.tls.cert_file and internal.tls.key_file go together: set both (https) or neither (http)");
    const std::string certFile = resolvePath("internal.tls.cert_file", certValue);
    const std::string keyFile = resolvePath("internal.tls.key_file", keyValue);
    checkReadable("internal.tls.cert_file", certFile);
    checkReadable("internal.tls.key_file", keyFile);

    Poco::Net::Context::Params params;
    params.certificateFile = certFile; // SSL_CTX_use_certificate_chain_file: leaf first, then intermediates
    params.privateKeyFile = keyFile;
    params.verificationMode = Poco::Net::Context::VERIFY_NONE; // clients authenticate with tokens, not certificates
    params.loadDefaultCAs = false;
    params.cipherList = "DEFAULT"; // OpenSSL's current defaults (TLS 1.3 suites are not affected by this list)
    Poco::Net::Context::Ptr context;
    try {
        context = new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, params);
    } catch (const Poco::Exception& e) {
        ERR_clear_error();
        // POCO's message names the file ("Error loading private key from file ...: <OpenSSL's reason>").
        throw Poco::InvalidArgumentException("internal.tls: " + e.message());
    }
    // OpenSSL keeps a certificate that does not match the key loaded before it
    // and drops the key: check the pair explicitly.
    ERR_clear_error(); // POCO's set-up leaves unrelated entries (e.g. its DH parameters)
    if (SSL_CTX_check_private_key(context->sslContext()) != 1)
        throw Poco::InvalidArgumentException("internal.tls.key_file '" + keyFile + "' is not the key of " +
                                             "internal.tls.cert_file '" + certFile +
                                             "': " + opensslErrors("key values mismatch"));
    context->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
    return context;
}

bool InternalTls::serverFiles(const Config& config, std::string& certFile, std::string& keyFile)
{
    if (serverContext(config).isNull()) return false;
    certFile = resolvePath("internal.tls.cert_file", config.getString(KeyId::InternalTlsCertFile));
    keyFile = resolvePath("internal.tls.key_file", config.getString(KeyId::InternalTlsKeyFile));
    return true;
}

ssl_ctx_st* InternalTls::clientContext(const Config& config)
{
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) throw Poco::InvalidArgumentException("internal.tls: " + opensslErrors("SSL_CTX_new failed"));
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); // idle kept-alive peer connections hold no buffers
    const std::string caValue = config.getString(KeyId::InternalTlsCaFile);
    if (caValue.empty()) {
        if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            SSL_CTX_free(ctx);
            throw Poco::InvalidArgumentException("internal.tls.ca_file is empty and the system CA store cannot be "
                                                 "loaded: " +
                                                 opensslErrors("unknown error"));
        }
        return ctx;
    }
    try {
        const std::string caFile = resolvePath("internal.tls.ca_file", caValue);
        checkReadable("internal.tls.ca_file", caFile);
        if (SSL_CTX_load_verify_locations(ctx, caFile.c_str(), nullptr) != 1)
            throw Poco::InvalidArgumentException("internal.tls.ca_file '" + caFile + "': " +
                                                 opensslErrors("no CA certificate in it"));
    } catch (...) {
        SSL_CTX_free(ctx);
        throw;
    }
    return ctx;
}

} // namespace ws2api
