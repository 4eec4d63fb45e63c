#pragma once
// TLS of the internal listener (internal.tls.*, docs/SECURITY.md): the
// server's context for InternalServer and the client context PeerForwarder
// uses for https:// entries of cluster.peers. OpenSSL does the work through
// POCO NetSSL (server) and libssl directly (the peers' non-blocking sockets).
//
// Everything here runs at start-up and throws Poco::InvalidArgumentException
// with one line that names the key and the file.
#include <Poco/Net/Context.h>

#include <string>

struct ssl_ctx_st;

namespace ws2api {

class Config;

class InternalTls {
public:
    /// A key's file name as the bridge opens it (common/CredentialPath.h:
    /// "credential:NAME" is $CREDENTIALS_DIRECTORY/NAME); throws
    /// Poco::InvalidArgumentException with the rule's one-line reason.
    static std::string resolvePath(const char* key, const std::string& value);

    /// The internal listener's context when internal.tls.cert_file and
    /// internal.tls.key_file are set (TLS 1.2+, OpenSSL's default ciphers, no
    /// client certificate); null when both are empty. Checks that the files
    /// can be read, that they hold a certificate chain and its private key.
    static Poco::Net::Context::Ptr serverContext(const Config& config);
    /// The same checks (through serverContext()), then the resolved file names
    /// for the loops' TlsContext; false when internal.tls.* is off.
    static bool serverFiles(const Config& config, std::string& certFile, std::string& keyFile);

    /// A client context for https:// peers: TLS 1.2+, the peer's certificate
    /// must verify against internal.tls.ca_file (empty: the system store);
    /// the caller sets the host to check on each SSL (SSL_set1_host). The
    /// caller owns it (SSL_CTX_free).
    static ssl_ctx_st* clientContext(const Config& config);

    /// OpenSSL's error queue as one line (and cleared); `fallback` when empty.
    static std::string opensslErrors(const std::string& fallback);
};

} // namespace ws2api
