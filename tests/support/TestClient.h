#pragma once
// A WebSocket client for tests, on a real blocking socket. It speaks through
// the project's codec (masked frames out, FrameParser in) and can also send
// raw bytes, so tests can break the protocol on purpose.
#include "server/codec/FrameParser.h"
#include "server/codec/Inflater.h"
#include "tests/support/Timing.h"

#include <Poco/Net/StreamSocket.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;

namespace ws2api::test {

struct WsEvent {
    enum Type { Text, Binary, Ping, Pong, Close, Eof, Timeout, ProtocolError } type = Timeout;
    std::string payload; ///< message, or close reason
    std::uint16_t code = 0;
    bool compressed = false; ///< a message that came with RSV1 (permessage-deflate)
};

class TestClient : private codec::FrameHandler {
public:
    TestClient();
    ~TestClient() override;

    /// wss://: connect() does a TLS handshake (OpenSSL, blocking, ALPN http/1.1)
    /// before the upgrade, verifying the server's certificate against caFile
    /// and serverName (SNI and host check). Call before connect().
    void useTls(const std::string& caFile, const std::string& serverName = "localhost");
    /// Why the last connect()'s TLS handshake failed ("" when it did not).
    const std::string& tlsError() const { return tlsError_; }
    /// The server certificate of this connection: serial (hex) and subject ("CN=...").
    std::string peerSerial() const;
    std::string peerSubject() const;
    /// The negotiated ALPN protocol ("" if none) and TLS version.
    std::string alpn() const;
    std::string tlsVersion() const;
    /// Resumption: this connection's session (after connect), to offer on another client's connect().
    SSL_SESSION* tlsSession() const;
    void offerTlsSession(SSL_SESSION* session);
    bool tlsResumed() const;

    /// Receive buffer size to ask for before connecting (small = a client that reads slowly).
    void setReceiveBufferSize(int bytes) { receiveBuffer_ = bytes; }
    /// Connects to 127.0.0.1:port, sends an upgrade for `target` ("/alice?x=1") with extra
    /// header lines ("Cookie: a=1"). Returns the HTTP status of the answer (101 = open), 0 if none.
    int connect(unsigned short port, const std::string& target, const std::vector<std::string>& headers = {},
                int timeoutMs = kWaitMs);
    /// The answer's head, and a header of it ("" if absent).
    const std::string& responseHead() const { return head_; }
    std::string responseHeader(const std::string& name) const;
    /// Body of a non-101 answer (as far as it arrived).
    const std::string& responseBody() const { return body_; }

    void sendText(const std::string& text);
    void sendBinary(const std::string& data);
    void sendPing(const std::string& data = "");
    void sendClose(std::uint16_t code, const std::string& reason);
    void sendRaw(const std::string& bytes);
    /// A masked frame of any opcode (fin=false for fragments).
    static std::string frame(codec::Opcode opcode, const std::string& payload, bool fin = true);

    /// The next event from the server; Timeout if none within timeoutMs.
    /// Pings are answered automatically unless answerPings is false (then they are returned).
    WsEvent next(int timeoutMs = kWaitMs);
    /// Next data message, skipping pings/pongs.
    WsEvent nextMessage(int timeoutMs = kWaitMs);
    void setAnswerPings(bool on) { answerPings_ = on; }
    /// permessage-deflate was negotiated: inflate RSV1 messages (with the
    /// server's context kept between messages when it takes over its context).
    void enableInflate(bool serverContextTakeover);

    /// Drops the TCP connection without a close frame.
    void abort();
    Poco::Net::StreamSocket& socket() { return socket_; }

private:
    /// One read of the transport (TLS or plain): bytes, 0 at EOF; throws
    /// Poco::TimeoutException after the socket's receive timeout, Poco::IOException on errors.
    int receive(char* buf, int size);
    int sendSome(const char* data, int size);
    bool tlsHandshake(int timeoutMs);

    void onMessage(bool binary, std::string& payload) override;
    void onPing(std::string& payload) override;
    void onPong(std::string& payload) override;
    void onClose(std::uint16_t code, std::string& reason) override;

    Poco::Net::StreamSocket socket_;
    codec::FrameParser parser_;
    std::unique_ptr<codec::Inflater> inflater_;
    std::deque<WsEvent> events_;
    std::string head_;
    std::string body_;
    int receiveBuffer_ = 0;
    bool answerPings_ = true;
    bool eof_ = false;
    SSL_CTX* tlsCtx_ = nullptr;
    SSL* ssl_ = nullptr;
    SSL_SESSION* offered_ = nullptr;
    std::string serverName_;
    std::string tlsError_;
};

/// A plain HTTP request to 127.0.0.1:port (pushes, counters); returns status and body.
struct HttpAnswer {
    int status = 0;
    std::string body;
    std::string contentType;
};
HttpAnswer httpRequest(unsigned short port, const std::string& method, const std::string& path,
                       const std::string& body = "", const std::string& contentType = "text/plain; charset=utf-8",
                       const std::string& accept = "");

/// Value of an OpenMetrics sample line ("name value"), -1 if absent.
double metricValue(const std::string& text, const std::string& sample);

} // namespace ws2api::test
