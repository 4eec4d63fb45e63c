#pragma once
// A throw-away certificate authority for the TLS tests: a CA, and leaf
// certificates signed by it (or by themselves), written as PEM files into a
// directory the test owns. Keys are ECDSA P-256. Everything is made with
// OpenSSL's own API at test time; no certificate is committed.

#include <string>
#include <vector>

namespace ws2api::test {

struct PemFiles {
    std::string certFile; // the certificate (a leaf's file holds the leaf only)
    std::string keyFile;  // its private key, unencrypted PKCS#8
};

struct LeafOptions {
    std::vector<std::string> dnsNames{"localhost"}; // subjectAltName DNS entries
    std::vector<std::string> ipAddresses{"127.0.0.1", "::1"}; // subjectAltName IP entries
    long notBeforeSeconds = -3600;        // relative to now
    long notAfterSeconds = 30L * 86400;   // relative to now; negative = already expired
    bool selfSigned = false;              // signed by its own key instead of the CA
    bool clientAuth = false;              // extendedKeyUsage clientAuth instead of serverAuth
};

class TestPki {
public:
    // Creates the CA ("ws2api test CA <name>") in dir (which must exist).
    TestPki(std::string dir, const std::string& name = "root");
    ~TestPki();
    TestPki(const TestPki&) = delete;
    TestPki& operator=(const TestPki&) = delete;

    // The CA certificate, for a client's or server's trust store.
    const std::string& caFile() const { return ca_.certFile; }

    // A leaf certificate with common name cn, written as <dir>/<cn>.crt and .key
    // (cn must be usable as a file name).
    PemFiles issue(const std::string& cn, const LeafOptions& options = {});

private:
    std::string dir_;
    PemFiles ca_;
    void* caKey_ = nullptr;  // EVP_PKEY*
    void* caCert_ = nullptr; // X509*
    long serial_ = 1;
};

} // namespace ws2api::test
