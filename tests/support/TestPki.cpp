#include "tests/support/TestPki.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <memory>
#include <stdexcept>

namespace ws2api::test {

namespace {

[[noreturn]] void fail(const std::string& what)
{
    throw std::runtime_error("TestPki: " + what);
}

EVP_PKEY* newKey()
{
    EVP_PKEY* key = EVP_EC_gen("P-256");
    if (!key) fail("EVP_EC_gen failed");
    return key;
}

void addExtension(X509* cert, X509* issuer, int nid, const std::string& value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext) fail("bad extension " + value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

X509* newCertificate(EVP_PKEY* key, const std::string& cn, long serial, long notBefore, long notAfter)
{
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
    X509_gmtime_adj(X509_getm_notBefore(cert), notBefore);
    X509_gmtime_adj(X509_getm_notAfter(cert), notAfter);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    return cert;
}

void writePem(const std::string& path, X509* cert, EVP_PKEY* key)
{
    std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "w"), std::fclose);
    if (!file) fail("cannot write " + path);
    bool ok = cert ? PEM_write_X509(file.get(), cert) == 1
                   : PEM_write_PrivateKey(file.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    if (!ok) fail("PEM write failed for " + path);
}

} // namespace

TestPki::TestPki(std::string dir, const std::string& name) : dir_(std::move(dir))
{
    EVP_PKEY* key = newKey();
    X509* cert = newCertificate(key, "ws2api test CA " + name, serial_++, -86400, 365L * 86400);
    X509_set_issuer_name(cert, X509_get_subject_name(cert));
    addExtension(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
    addExtension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
    addExtension(cert, cert, NID_subject_key_identifier, "hash");
    if (X509_sign(cert, key, EVP_sha256()) == 0) fail("signing the CA failed");
    ca_.certFile = dir_ + "/ca-" + name + ".crt";
    ca_.keyFile = dir_ + "/ca-" + name + ".key";
    writePem(ca_.certFile, cert, nullptr);
    writePem(ca_.keyFile, nullptr, key);
    caKey_ = key;
    caCert_ = cert;
}

TestPki::~TestPki()
{
    X509_free(static_cast<X509*>(caCert_));
    EVP_PKEY_free(static_cast<EVP_PKEY*>(caKey_));
}

PemFiles TestPki::issue(const std::string& cn, const LeafOptions& options)
{
    EVP_PKEY* key = newKey();
    X509* cert = newCertificate(key, cn, serial_++, options.notBeforeSeconds, options.notAfterSeconds);
    X509* issuer = options.selfSigned ? cert : static_cast<X509*>(caCert_);
    EVP_PKEY* signer = options.selfSigned ? key : static_cast<EVP_PKEY*>(caKey_);
    X509_set_issuer_name(cert, X509_get_subject_name(issuer));
    std::string san;
    for (const auto& dns : options.dnsNames) san += (san.empty() ? "DNS:" : ",DNS:") + dns;
    for (const auto& ip : options.ipAddresses) san += (san.empty() ? "IP:" : ",IP:") + ip;
    if (!san.empty()) addExtension(cert, issuer, NID_subject_alt_name, san);
    addExtension(cert, issuer, NID_basic_constraints, "critical,CA:FALSE");
    addExtension(cert, issuer, NID_key_usage, "critical,digitalSignature");
    addExtension(cert, issuer, NID_ext_key_usage, options.clientAuth ? "clientAuth" : "serverAuth");
    if (!options.selfSigned) addExtension(cert, issuer, NID_authority_key_identifier, "keyid:always");
    if (X509_sign(cert, signer, EVP_sha256()) == 0) fail("signing " + cn + " failed");
    PemFiles files{dir_ + "/" + cn + ".crt", dir_ + "/" + cn + ".key"};
    writePem(files.certFile, cert, nullptr);
    writePem(files.keyFile, nullptr, key);
    X509_free(cert);
    EVP_PKEY_free(key);
    return files;
}

} // namespace ws2api::test
