#pragma once
// A deliberately independent RFC 6455 client for conformance tests: it builds
// every byte it sends itself (no FrameWriter) and reads the server's frames
// from the wire itself (no FrameParser), so it can check exact bytes: FIN, RSV,
// opcode, the mask bit, the length encoding and the payload. Header-only (see
// IntegrationSupport.h); blocking socket, every read bounded by a timeout.
#include "tests/integration/IntegrationSupport.h"

#include <Poco/Base64Encoder.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/SHA1Engine.h>

#include <cstdint>
#include <random>
#include <sstream>
#include <string>

namespace ws2api::test {

namespace wire {
constexpr unsigned kContinuation = 0x0;
constexpr unsigned kText = 0x1;
constexpr unsigned kBinary = 0x2;
constexpr unsigned kClose = 0x8;
constexpr unsigned kPing = 0x9;
constexpr unsigned kPong = 0xA;

inline std::string opcodeName(unsigned op)
{
    switch (op) {
    case kContinuation: return "Continuation";
    case kText: return "Text";
    case kBinary: return "Binary";
    case kClose: return "Close";
    case kPing: return "Ping";
    case kPong: return "Pong";
    default: return "Opcode" + std::to_string(op);
    }
}

/// The length field(s) of a frame header with the shortest encoding, mask bit as given.
inline std::string lengthField(std::uint64_t n, bool masked)
{
    std::string h;
    const unsigned char m = masked ? 0x80 : 0x00;
    if (n < 126) {
        h.push_back(static_cast<char>(m | n));
    } else if (n <= 0xFFFF) {
        h.push_back(static_cast<char>(m | 126));
        h.push_back(static_cast<char>((n >> 8) & 0xFF));
        h.push_back(static_cast<char>(n & 0xFF));
    } else {
        h.push_back(static_cast<char>(m | 127));
        for (int i = 7; i >= 0; --i) h.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
    }
    return h;
}

/// A client frame, byte for byte: FIN, RSV (0-7), opcode (0-15), masked unless told otherwise.
inline std::string frame(unsigned opcode, const std::string& payload, bool fin = true, unsigned rsv = 0,
                         bool masked = true)
{
    static std::mt19937 rng(6455);
    std::string f;
    f.push_back(static_cast<char>((fin ? 0x80 : 0x00) | ((rsv & 7) << 4) | (opcode & 0x0F)));
    f += lengthField(payload.size(), masked);
    if (!masked) return f + payload;
    unsigned char key[4];
    for (auto& k : key) k = static_cast<unsigned char>(rng());
    // Never an all-zero key: a masked frame must really be masked for the test to mean anything.
    if (key[0] == 0 && key[1] == 0 && key[2] == 0 && key[3] == 0) key[0] = 0x5A;
    f.append(reinterpret_cast<const char*>(key), 4);
    for (std::size_t i = 0; i < payload.size(); ++i)
        f.push_back(static_cast<char>(static_cast<unsigned char>(payload[i]) ^ key[i & 3]));
    return f;
}

/// What a conforming server must put on the wire for a message it sends unfragmented.
inline std::string serverFrame(unsigned opcode, const std::string& payload)
{
    std::string f(1, static_cast<char>(0x80 | opcode));
    return f + lengthField(payload.size(), false) + payload;
}

inline std::string closePayload(std::uint16_t code, const std::string& reason = "")
{
    std::string p;
    p.push_back(static_cast<char>(code >> 8));
    p.push_back(static_cast<char>(code & 0xFF));
    return p + reason;
}

inline std::string closeFrame(std::uint16_t code, const std::string& reason = "")
{
    return frame(kClose, closePayload(code, reason));
}

/// "0x3e 0x80 ..." for assertion messages (first `max` bytes).
inline std::string hex(const std::string& bytes, std::size_t max = 24)
{
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < bytes.size() && i < max; ++i) {
        unsigned char c = static_cast<unsigned char>(bytes[i]);
        if (i) out += ' ';
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    if (bytes.size() > max) out += " ... (" + std::to_string(bytes.size()) + " bytes)";
    return out;
}

/// Where two byte strings first differ, for assertion messages.
inline std::string firstDifference(const std::string& expected, const std::string& seen)
{
    if (expected == seen) return "identical";
    std::size_t i = 0;
    while (i < expected.size() && i < seen.size() && expected[i] == seen[i]) ++i;
    return "expected " + std::to_string(expected.size()) + " bytes, saw " + std::to_string(seen.size()) +
           ", first difference at byte " + std::to_string(i) + " (expected " + hex(expected.substr(i, 8)) +
           ", saw " + hex(seen.substr(i, 8)) + ")";
}
} // namespace wire

/// One server frame as read from the wire.
struct WireFrame {
    enum Kind { Frame, Timeout, Eof } kind = Timeout;
    bool fin = false;
    unsigned rsv = 0;
    unsigned opcode = 0;
    bool masked = false;
    bool minimalLength = true;
    std::string raw;     ///< every byte of the frame, header included
    std::string payload; ///< unmasked payload

    bool isClose() const { return kind == Frame && opcode == wire::kClose; }
    /// Close code of a close frame; 1005 for a close frame without payload, 0 if not a close frame.
    int closeCode() const
    {
        if (!isClose()) return 0;
        if (payload.size() < 2) return payload.empty() ? 1005 : -1;
        return (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
    }
    std::string closeReason() const { return payload.size() > 2 ? payload.substr(2) : std::string(); }
    /// What any server frame must look like: a defined opcode, RSV 0, unmasked, minimal length,
    /// control frames unfragmented and at most 125 bytes.
    bool wellFormed() const
    {
        bool control = (opcode & 0x8) != 0;
        bool defined = opcode <= 2 || (opcode >= 8 && opcode <= 10);
        return kind == Frame && defined && rsv == 0 && !masked && minimalLength &&
               (!control || (fin && payload.size() <= 125));
    }

    std::string describe() const
    {
        if (kind == Timeout) return "Timeout";
        if (kind == Eof) return "Eof";
        std::string d = wire::opcodeName(opcode);
        if (opcode == wire::kClose) d += ":" + std::to_string(closeCode());
        if (opcode == wire::kText || opcode == wire::kPing || opcode == wire::kPong || opcode == wire::kClose) {
            std::string text = opcode == wire::kClose ? closeReason() : payload;
            if (!text.empty()) d += " '" + (text.size() > 40 ? text.substr(0, 40) + "...'" : text + "'");
        }
        d += " [" + std::to_string(payload.size()) + " bytes";
        if (!fin) d += ", FIN=0";
        if (rsv) d += ", RSV=" + std::to_string(rsv);
        if (masked) d += ", MASKED";
        if (!minimalLength) d += ", non-minimal length";
        d += "; header " + wire::hex(raw.substr(0, raw.size() - payload.size())) + "]";
        return d;
    }
};

class RawWebSocket {
public:
    RawWebSocket() = default;
    ~RawWebSocket()
    {
        try {
            socket_.close();
        } catch (...) {
        }
    }
    RawWebSocket(const RawWebSocket&) = delete;
    RawWebSocket& operator=(const RawWebSocket&) = delete;

    /// TCP connect to 127.0.0.1:port and the upgrade for `target`, with a fresh random key.
    /// Returns the HTTP status (101 = open), 0 if no answer. On 101 also checks Sec-WebSocket-Accept.
    int connect(unsigned short port, const std::string& target, int timeoutMs = 5000)
    {
        socket_.connect(Poco::Net::SocketAddress("127.0.0.1", port), Poco::Timespan(timeoutMs * 1000L));
        socket_.setNoDelay(true);
        std::string key = randomKey();
        send("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n\r\n");
        auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
        std::size_t end;
        while ((end = in_.find("\r\n\r\n")) == std::string::npos) {
            if (!fill(deadline)) return 0;
        }
        head_ = in_.substr(0, end + 4);
        in_.erase(0, end + 4);
        int status = statusOf(head_);
        if (status == 101) {
            std::string expected = "Sec-WebSocket-Accept: " + acceptFor(key) + "\r\n";
            acceptOk_ = head_.find(expected) != std::string::npos;
        }
        return status;
    }

    const std::string& head() const { return head_; }
    bool acceptKeyOk() const { return acceptOk_; }
    Poco::Net::StreamSocket& socket() { return socket_; }

    /// Writes all bytes (a server that closed makes this throw; callers that
    /// expect that catch Poco::Exception).
    void send(const std::string& bytes)
    {
        std::size_t sent = 0;
        while (sent < bytes.size()) {
            int n = socket_.sendBytes(bytes.data() + sent, static_cast<int>(bytes.size() - sent));
            if (n <= 0) throw Poco::IOException("send failed");
            sent += static_cast<std::size_t>(n);
        }
    }

    /// Writes `bytes` `chunk` bytes per write, sleeping delayMs between writes.
    void sendInPieces(const std::string& bytes, std::size_t chunk, int delayMs)
    {
        for (std::size_t at = 0; at < bytes.size(); at += chunk) {
            send(bytes.substr(at, chunk));
            if (delayMs > 0) sleepMs(delayMs);
        }
    }

    /// The next frame the server sends, Timeout if it is not complete within timeoutMs,
    /// Eof if the connection ended (EOF or reset) before a whole frame arrived.
    WireFrame readFrame(int timeoutMs = 5000)
    {
        auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
        WireFrame f;
        auto need = [&](std::size_t n) -> bool {
            while (in_.size() < n)
                if (!fill(deadline)) return false;
            return true;
        };
        auto incomplete = [&]() {
            WireFrame g;
            g.kind = eof_ ? WireFrame::Eof : WireFrame::Timeout;
            return g;
        };
        if (!need(2)) return incomplete();
        const unsigned char b0 = static_cast<unsigned char>(in_[0]);
        const unsigned char b1 = static_cast<unsigned char>(in_[1]);
        f.fin = (b0 & 0x80) != 0;
        f.rsv = (b0 >> 4) & 7;
        f.opcode = b0 & 0x0F;
        f.masked = (b1 & 0x80) != 0;
        std::size_t header = 2;
        std::uint64_t len = b1 & 0x7F;
        if (len == 126) {
            if (!need(4)) return incomplete();
            len = (std::uint64_t{static_cast<unsigned char>(in_[2])} << 8) | static_cast<unsigned char>(in_[3]);
            f.minimalLength = len >= 126;
            header = 4;
        } else if (len == 127) {
            if (!need(10)) return incomplete();
            len = 0;
            for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<unsigned char>(in_[2 + i]);
            f.minimalLength = len > 0xFFFF && (len >> 63) == 0;
            header = 10;
        }
        if (len > (std::uint64_t{1} << 31)) { // nothing in these tests is that big: a broken header
            f.kind = WireFrame::Frame;
            f.raw = in_.substr(0, header);
            f.minimalLength = false;
            return f;
        }
        unsigned char key[4] = {0, 0, 0, 0};
        if (f.masked) {
            if (!need(header + 4)) return incomplete();
            for (int i = 0; i < 4; ++i) key[i] = static_cast<unsigned char>(in_[header + i]);
            header += 4;
        }
        const std::size_t total = header + static_cast<std::size_t>(len);
        if (!need(total)) return incomplete();
        f.kind = WireFrame::Frame;
        f.raw = in_.substr(0, total);
        f.payload = in_.substr(header, static_cast<std::size_t>(len));
        if (f.masked)
            for (std::size_t i = 0; i < f.payload.size(); ++i)
                f.payload[i] = static_cast<char>(static_cast<unsigned char>(f.payload[i]) ^ key[i & 3]);
        in_.erase(0, total);
        return f;
    }

    /// True if the server ends the TCP connection (EOF or reset) within timeoutMs.
    /// Bytes that arrive meanwhile are kept (readFrame() still returns them).
    bool waitEof(int timeoutMs)
    {
        auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
        while (!eof_)
            if (!fill(deadline) && !eof_) return false;
        return true;
    }

    /// Bytes received but not yet taken by readFrame().
    const std::string& unread() const { return in_; }
    bool eof() const { return eof_; }
    /// Whether the connection ended with a reset rather than an orderly EOF.
    bool wasReset() const { return reset_; }

    static std::string acceptFor(const std::string& key)
    {
        Poco::SHA1Engine sha1;
        sha1.update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
        const Poco::DigestEngine::Digest& d = sha1.digest();
        std::ostringstream out;
        Poco::Base64Encoder enc(out);
        enc.write(reinterpret_cast<const char*>(d.data()), static_cast<std::streamsize>(d.size()));
        enc.close();
        return out.str();
    }

private:
    static std::string randomKey()
    {
        static std::mt19937 rng(20111211);
        std::string raw;
        for (int i = 0; i < 16; ++i) raw.push_back(static_cast<char>(rng()));
        std::ostringstream out;
        Poco::Base64Encoder enc(out);
        enc.write(raw.data(), static_cast<std::streamsize>(raw.size()));
        enc.close();
        return out.str();
    }

    /// One read into in_; false on timeout or end of connection.
    bool fill(Clock::time_point deadline)
    {
        if (eof_) return false;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return false;
        socket_.setReceiveTimeout(Poco::Timespan(static_cast<long>(left) * 1000L));
        int n = 0;
        try {
            n = socket_.receiveBytes(buf_, sizeof buf_);
        } catch (const Poco::TimeoutException&) {
            return false;
        } catch (const Poco::Exception&) {
            eof_ = true;
            reset_ = true;
            return false;
        }
        if (n <= 0) {
            eof_ = true;
            return false;
        }
        in_.append(buf_, static_cast<std::size_t>(n));
        return true;
    }

    Poco::Net::StreamSocket socket_;
    std::string in_;
    std::string head_;
    bool acceptOk_ = false;
    bool eof_ = false;
    bool reset_ = false;
    char buf_[65536];
};

} // namespace ws2api::test
