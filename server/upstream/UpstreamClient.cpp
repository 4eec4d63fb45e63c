#include "server/upstream/UpstreamClient.h"

#include "server/tls/InternalTls.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Delegate.h>
#include <Poco/Net/NetSSL.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/VerificationErrorArgs.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Timespan.h>

#include <istream>
#include <poll.h>
#include <sys/socket.h>
#include <ostream>

namespace ws2api {

namespace {
/// HTTPSession::buffered() is protected; a member pointer named through a
/// derived class reads it on any session.
struct SessionPeek : Poco::Net::HTTPSession {
    static int of(const Poco::Net::HTTPSession& s) { return (s.*&SessionPeek::buffered)(); }
};

// POCO reports a certificate that does not verify through this event (the
// handshake then fails with OpenSSL's generic "certificate verify failed"):
// keep its reason for the error, per thread. Nothing sets ignoreError.
thread_local std::string lastVerifyError;
void recordVerifyError(const void*, Poco::Net::VerificationErrorArgs& args) { lastVerifyError = args.errorMessage(); }

Poco::Net::Context::Ptr clientContext(const Config& config)
{
    static std::once_flag once;
    std::call_once(once, [] {
        Poco::Net::initializeSSL();
        Poco::Net::SSLManager::instance().ClientVerificationError += Poco::delegate(&recordVerifyError);
    });
    Poco::Net::Context::Params params;
    params.caLocation = InternalTls::resolvePath("upstream.ca_file",
                                                 config.getString(KeyId::UpstreamCaFile));
    params.loadDefaultCAs = params.caLocation.empty();
    params.certificateFile = InternalTls::resolvePath("upstream.client_cert_file",
                                                      config.getString(KeyId::UpstreamClientCertFile));
    params.privateKeyFile = InternalTls::resolvePath("upstream.client_key_file",
                                                     config.getString(KeyId::UpstreamClientKeyFile));
    params.verificationMode = Poco::Net::Context::VERIFY_RELAXED; // a client: the server's certificate must verify
    params.cipherList = "DEFAULT";
    Poco::Net::Context::Ptr context = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
    context->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
    return context;
}
} // namespace

UpstreamClient::UpstreamClient(const Poco::URI& base, const Config& config) : config_(config)
{
    if (base.getScheme() == "https")
        session_ = std::make_unique<Poco::Net::HTTPSClientSession>(base.getHost(), base.getPort(), clientContext(config));
    else
        session_ = std::make_unique<Poco::Net::HTTPClientSession>(base.getHost(), base.getPort());
    session_->setKeepAlive(true);
    hostHeader_ = base.getAuthority();
}

int UpstreamClient::buffered() const { return SessionPeek::of(*session_); }

void UpstreamClient::abort()
{
    aborted_.store(true);
    std::lock_guard<std::mutex> lock(activeMutex_);
    if (activeFd_ >= 0) ::shutdown(activeFd_, SHUT_RDWR);
}

void UpstreamClient::setActiveSocket(int fd)
{
    std::lock_guard<std::mutex> lock(activeMutex_);
    activeFd_ = fd;
}

bool UpstreamClient::connectionLooksStale()
{
    // An idle keep-alive connection has nothing to read; if it is readable the
    // server closed it (EOF) or sent garbage: either way, do not send on it.
    // Plain poll(2): Poco's Socket::poll() creates and closes an epoll set per
    // call, which showed up in the profile (docs/BENCHMARKS.md).
    pollfd p{};
    p.fd = session_->socket().impl()->sockfd();
    p.events = POLLIN;
    return ::poll(&p, 1, 0) != 0;
}

UpstreamResponse UpstreamClient::request(const std::string& method, const std::string& pathAndQuery,
                                         const std::vector<std::pair<std::string, std::string>>& headers,
                                         const std::string& body, const char* contentType, bool idempotent,
                                         std::size_t maxBody)
{
    UpstreamResponse out;
    const Poco::Timespan timeout(static_cast<long>(config_.getInt(KeyId::UpstreamTimeoutMs)) * 1000);
    session_->setTimeout(timeout, timeout, timeout);
    session_->setKeepAliveTimeout(
        Poco::Timespan(static_cast<long>(config_.getInt(KeyId::UpstreamKeepAliveTimeoutMs)) * 1000));

    for (int attempt = 0; attempt < 2; ++attempt) {
        lastVerifyError.clear();
        bool reused = session_->connected();
        if (reused && connectionLooksStale()) {
            session_->reset();
            reused = false;
        }
        try {
            Poco::Net::HTTPRequest req(method, pathAndQuery, Poco::Net::HTTPMessage::HTTP_1_1);
            req.setHost(hostHeader_);
            req.setKeepAlive(true);
            for (const auto& h : headers) req.add(h.first, h.second);
            if (method != Poco::Net::HTTPRequest::HTTP_GET || !body.empty()) {
                req.setContentLength(static_cast<std::streamsize>(body.size()));
                if (contentType) req.setContentType(contentType);
            }
            if (aborted_.load()) throw Poco::IOException("bridge is shutting down");
            std::ostream& os = session_->sendRequest(req);
            os.write(body.data(), static_cast<std::streamsize>(body.size()));

            // Cleared before any exit from this block that may close the socket.
            struct Active {
                UpstreamClient& c;
                ~Active() { c.setActiveSocket(-1); }
            } active{*this};
            setActiveSocket(session_->socket().impl()->sockfd());
            if (aborted_.load()) throw Poco::IOException("bridge is shutting down");

            Poco::Net::HTTPResponse resp;
            std::istream& is = session_->receiveResponse(resp);
            out.answered = true;
            out.status = static_cast<int>(resp.getStatus());
            out.protocol = resp.get("Sec-WebSocket-Protocol", "");
            char buf[8192];
            while (is) {
                is.read(buf, sizeof buf);
                std::streamsize n = is.gcount();
                if (n <= 0) break;
                if (out.body.size() + static_cast<std::size_t>(n) > maxBody) {
                    // Too big to send to a client: treat as a failed request and
                    // drop the connection (the rest of the body is still coming).
                    setActiveSocket(-1);
                    session_->reset();
                    out.answered = false;
                    out.status = 0;
                    out.body.clear();
                    out.error = "upstream reply larger than limits.max_message_bytes";
                    return out;
                }
                out.body.append(buf, static_cast<std::size_t>(n));
            }
            // A reset or close in the middle of the body does not throw (the
            // istream swallows it): a short body must not pass for a reply.
            bool complete = !is.bad() && session_->networkException() == nullptr &&
                            (!resp.hasContentLength() || static_cast<Poco::Int64>(out.body.size()) == resp.getContentLength64());
            setActiveSocket(-1);
            if (!complete) {
                session_->reset();
                out = UpstreamResponse{};
                out.error = "upstream closed the connection in the middle of its answer";
                return out;
            }
            if (!resp.getKeepAlive() || buffered() > 0) session_->reset(); // bytes after the answer: desynchronised
            return out;
        } catch (const Poco::TimeoutException&) {
            session_->reset();
            out = UpstreamResponse{};
            out.error = "timeout";
            return out; // never retried: the API may still be working on it
        } catch (const Poco::Exception& e) {
            session_->reset();
            out = UpstreamResponse{};
            out.error = lastVerifyError.empty() ? e.displayText() : "certificate verify failed: " + lastVerifyError;
            if (attempt == 0 && reused && idempotent && !aborted_.load()) continue;
            return out;
        } catch (const std::exception& e) {
            session_->reset();
            out = UpstreamResponse{};
            out.error = e.what();
            return out;
        }
    }
    return out;
}

} // namespace ws2api
