#include "tests/support/TestClient.h"

#include "server/codec/FrameWriter.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/StreamCopier.h>
#include <Poco/String.h>

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
}

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
            n = socket_.receiveBytes(tmp, sizeof tmp);
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
            while ((n = socket_.receiveBytes(tmp, sizeof tmp)) > 0) body_.append(tmp, static_cast<std::size_t>(n));
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
        int n = socket_.sendBytes(bytes.data() + sent, static_cast<int>(bytes.size() - sent));
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
            n = socket_.receiveBytes(buf, sizeof buf);
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
                       const std::string& body, const std::string& contentType)
{
    Poco::Net::HTTPClientSession session("127.0.0.1", port);
    session.setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    if (method == "POST" || method == "PUT" || !body.empty()) {
        req.setContentType(contentType);
        req.setContentLength(static_cast<std::streamsize>(body.size()));
    }
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
