#include "tests/support/TestClient.h"

#include "server/codec/FrameWriter.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/StreamCopier.h>
#include <Poco/String.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <chrono>
#include <random>
#include <sstream>

namespace ws2api::test {

using codec::FrameWriter;
using codec::Opcode;

TestClient::TestClient() : parser_(64 * 1024 * 1024, false) {}

void TestClient::enableInflate(bool serverContextTakeover)
{
    inflater_ = std::make_unique<codec::Inflater>(15, serverContextTakeover);
    parser_.setInflater(inflater_.get());
}

TestClient::~TestClient()
{
    try {
        socket_.close();
    } catch (...) {
    }
    SSL_free(ssl_);
    SSL_SESSION_free(offered_);
    SSL_CTX_free(tlsCtx_);
}

void TestClient::useTls(const std::string& caFile, const std::string& serverName)
{
    SSL_CTX_free(tlsCtx_);
    tlsCtx_ = SSL_CTX_new(TLS_client_method());
    if (!tlsCtx_ || (!caFile.empty() && SSL_CTX_load_verify_locations(tlsCtx_, caFile.c_str(), nullptr) != 1))
        throw Poco::IOException("test client: cannot load CA file " + caFile);
    SSL_CTX_set_verify(tlsCtx_, SSL_VERIFY_PEER, nullptr);
    static const unsigned char kAlpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(tlsCtx_, kAlpn, sizeof kAlpn - 1);
    serverName_ = serverName;
}

bool TestClient::tlsHandshake(int timeoutMs)
{
    tlsError_.clear();
    SSL_free(ssl_);
    ssl_ = SSL_new(tlsCtx_);
    SSL_set_fd(ssl_, socket_.impl()->sockfd());
    SSL_set_tlsext_host_name(ssl_, serverName_.c_str());
    SSL_set1_host(ssl_, serverName_.c_str());
    if (offered_) SSL_set_session(ssl_, offered_);
    socket_.setReceiveTimeout(Poco::Timespan(timeoutMs * 1000L));
    socket_.setSendTimeout(Poco::Timespan(timeoutMs * 1000L));
    ERR_clear_error();
    if (SSL_connect(ssl_) == 1) return true;
    const long verify = SSL_get_verify_result(ssl_);
    const unsigned long code = ERR_peek_last_error();
    if (verify != X509_V_OK)
        tlsError_ = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
    else if (code != 0 && ERR_reason_error_string(code))
        tlsError_ = ERR_reason_error_string(code);
    else
        tlsError_ = "TLS handshake failed (connection closed or timed out)";
    ERR_clear_error();
    return false;
}

int TestClient::receive(char* buf, int size)
{
    if (!ssl_) return socket_.receiveBytes(buf, size);
    ERR_clear_error();
    errno = 0;
    const int n = SSL_read(ssl_, buf, size);
    if (n > 0) return n;
    const int err = SSL_get_error(ssl_, n);
    ERR_clear_error();
    if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && errno == 0)) return 0;
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) throw Poco::TimeoutException("TLS read timed out");
    throw Poco::IOException("TLS read failed");
}

int TestClient::sendSome(const char* data, int size)
{
    if (!ssl_) return socket_.sendBytes(data, size);
    ERR_clear_error();
    const int n = SSL_write(ssl_, data, size);
    ERR_clear_error();
    return n;
}

std::string TestClient::peerSerial() const
{
    std::string out;
    X509* cert = ssl_ ? SSL_get0_peer_certificate(ssl_) : nullptr;
    if (!cert) return out;
    if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
        if (char* hex = BN_bn2hex(bn)) {
            out = hex;
            OPENSSL_free(hex);
        }
        BN_free(bn);
    }
    return out;
}

std::string TestClient::peerSubject() const
{
    X509* cert = ssl_ ? SSL_get0_peer_certificate(ssl_) : nullptr;
    if (!cert) return {};
    char buf[256];
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
    return std::string("CN=") + buf;
}

std::string TestClient::alpn() const
{
    const unsigned char* data = nullptr;
    unsigned int len = 0;
    if (ssl_) SSL_get0_alpn_selected(ssl_, &data, &len);
    return data ? std::string(reinterpret_cast<const char*>(data), len) : std::string();
}

std::string TestClient::tlsVersion() const { return ssl_ ? SSL_get_version(ssl_) : ""; }

SSL_SESSION* TestClient::tlsSession() const { return ssl_ ? SSL_get1_session(ssl_) : nullptr; }

void TestClient::offerTlsSession(SSL_SESSION* session)
{
    SSL_SESSION_free(offered_);
    offered_ = session; // ours now
}

bool TestClient::tlsResumed() const { return ssl_ && SSL_session_reused(ssl_) == 1; }

int TestClient::connect(unsigned short port, const std::string& target, const std::vector<std::string>& headers,
                        int timeoutMs)
{
    if (receiveBuffer_ > 0) {
        // Must be set before connect for the window to stay small.
        socket_ = Poco::Net::StreamSocket(Poco::Net::SocketAddress::IPv4);
        socket_.setReceiveBufferSize(receiveBuffer_);
    }
    socket_.connect(Poco::Net::SocketAddress("127.0.0.1", port), Poco::Timespan(timeoutMs * 1000L));
    socket_.setNoDelay(true);
    if (tlsCtx_ && !tlsHandshake(timeoutMs)) return 0;
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    for (const auto& h : headers) req += h + "\r\n";
    req += "\r\n";
    sendRaw(req);

    std::string buf;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    char tmp[4096];
    std::size_t end = std::string::npos;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return 0;
        socket_.setReceiveTimeout(Poco::Timespan(left.count() * 1000L));
        int n = 0;
        try {
            n = receive(tmp, sizeof tmp);
        } catch (const Poco::Exception&) {
            return 0;
        }
        if (n <= 0) return 0;
        buf.append(tmp, static_cast<std::size_t>(n));
    }
    head_ = buf.substr(0, end + 4);
    std::string rest = buf.substr(end + 4);
    int status = 0;
    std::istringstream line(head_);
    std::string version;
    line >> version >> status;
    if (status == 101) {
        if (!rest.empty()) parser_.feed(rest.data(), rest.size(), *this);
    } else {
        body_ = rest;
        // Read the rest of the body until the server closes.
        try {
            socket_.setReceiveTimeout(Poco::Timespan(1, 0));
            int n;
            while ((n = receive(tmp, sizeof tmp)) > 0) body_.append(tmp, static_cast<std::size_t>(n));
        } catch (const Poco::Exception&) {
        }
    }
    return status;
}

std::string TestClient::responseHeader(const std::string& name) const
{
    std::istringstream in(head_);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        std::size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        if (Poco::icompare(line.substr(0, colon), name) == 0) return Poco::trim(line.substr(colon + 1));
    }
    return {};
}

std::string TestClient::frame(Opcode opcode, const std::string& payload, bool fin)
{
    thread_local std::mt19937 rng(12345); // tests drive clients from several threads
    unsigned char mask[4];
    for (auto& b : mask) b = static_cast<unsigned char>(rng());
    return FrameWriter::frame(opcode, payload, fin, mask);
}

void TestClient::sendRaw(const std::string& bytes)
{
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        int n = sendSome(bytes.data() + sent, static_cast<int>(bytes.size() - sent));
        if (n <= 0) throw Poco::IOException("send failed");
        sent += static_cast<std::size_t>(n);
    }
}

void TestClient::sendText(const std::string& text) { sendRaw(frame(Opcode::Text, text)); }
void TestClient::sendBinary(const std::string& data) { sendRaw(frame(Opcode::Binary, data)); }
void TestClient::sendPing(const std::string& data) { sendRaw(frame(Opcode::Ping, data)); }
void TestClient::sendClose(std::uint16_t code, const std::string& reason)
{
    unsigned char mask[4] = {1, 2, 3, 4};
    sendRaw(FrameWriter::close(code, reason, mask));
}

void TestClient::onMessage(bool binary, std::string& payload)
{
    events_.push_back(WsEvent{binary ? WsEvent::Binary : WsEvent::Text, payload, 0, parser_.messageCompressed()});
}
void TestClient::onPing(std::string& payload)
{
    if (answerPings_) {
        try {
            sendRaw(frame(Opcode::Pong, payload));
        } catch (...) {
        }
    } else {
        events_.push_back(WsEvent{WsEvent::Ping, payload, 0});
    }
}
void TestClient::onPong(std::string& payload) { events_.push_back(WsEvent{WsEvent::Pong, payload, 0}); }
void TestClient::onClose(std::uint16_t code, std::string& reason)
{
    events_.push_back(WsEvent{WsEvent::Close, reason, code});
}

WsEvent TestClient::next(int timeoutMs)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    char buf[65536];
    while (events_.empty()) {
        if (eof_) return WsEvent{WsEvent::Eof, "", 0};
        if (parser_.status() == codec::FrameParser::Status::Error)
            return WsEvent{WsEvent::ProtocolError, parser_.errorReason(), parser_.errorCode()};
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return WsEvent{WsEvent::Timeout, "", 0};
        socket_.setReceiveTimeout(Poco::Timespan(left.count() * 1000L));
        int n = 0;
        try {
            n = receive(buf, sizeof buf);
        } catch (const Poco::TimeoutException&) {
            continue;
        } catch (const Poco::Exception&) {
            eof_ = true; // reset
            continue;
        }
        if (n <= 0) {
            eof_ = true;
            continue;
        }
        if (parser_.status() == codec::FrameParser::Status::Closed) continue; // bytes after close: ignored
        parser_.feed(buf, static_cast<std::size_t>(n), *this);
    }
    WsEvent e = std::move(events_.front());
    events_.pop_front();
    return e;
}

WsEvent TestClient::nextMessage(int timeoutMs)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        WsEvent e = next(static_cast<int>(std::max<long long>(0, left.count())));
        if (e.type != WsEvent::Ping && e.type != WsEvent::Pong) return e;
    }
}

void TestClient::abort()
{
    try {
        socket_.setLinger(true, 0); // RST, like a client that crashed
        socket_.close();
    } catch (...) {
    }
}

HttpAnswer httpRequest(unsigned short port, const std::string& method, const std::string& path,
                       const std::string& body, const std::string& contentType, const std::string& accept)
{
    Poco::Net::HTTPClientSession session("127.0.0.1", port);
    session.setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    if (method == "POST" || method == "PUT" || !body.empty()) {
        req.setContentType(contentType);
        req.setContentLength(static_cast<std::streamsize>(body.size()));
    }
    if (!accept.empty()) req.set("Accept", accept);
    session.sendRequest(req) << body;
    Poco::Net::HTTPResponse resp;
    std::istream& in = session.receiveResponse(resp);
    HttpAnswer a;
    a.status = resp.getStatus();
    a.contentType = resp.getContentType();
    Poco::StreamCopier::copyToString(in, a.body);
    return a;
}

double metricValue(const std::string& text, const std::string& sample)
{
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.compare(0, sample.size() + 1, sample + " ") == 0) return std::stod(line.substr(sample.size() + 1));
    }
    return -1;
}

} // namespace ws2api::test
