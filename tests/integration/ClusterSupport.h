#pragma once
// Helpers for the scale-out suites (ClusterTest, ReconcileTest, ScaleOutTest):
// ports chosen before a process starts (peers must know each other's
// addresses), pushes that show the answering node, several bridges at once.
// Header-only, like IntegrationSupport.h.
#include "tests/integration/IntegrationSupport.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <memory>
#include <string>
#include <vector>

namespace ws2api::test {

/// `n` distinct free ports on 127.0.0.1: all bound at once (so they differ),
/// then released for the process the test starts next. Another process could
/// take one in between; on loopback in a test run that is rare, and the
/// process that then fails to bind says so.
inline std::vector<unsigned short> freePorts(std::size_t n)
{
    std::vector<int> fds;
    std::vector<unsigned short> ports;
    for (std::size_t i = 0; i < n; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) CPPUNIT_FAIL("no free port");
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        fds.push_back(fd);
        ports.push_back(ntohs(a.sin_port));
    }
    for (int fd : fds) ::close(fd);
    return ports;
}

struct PushAnswer {
    int status = 0;
    std::string body;
    std::string node; ///< X-Ws2api-Node of the answer
    long long ms = 0; ///< how long the answer took
};

/// POST /<id> on an internal listener, with extra headers ({"Authorization", "Bearer x"}).
inline PushAnswer pushTo(unsigned short port, const std::string& id, const std::string& body,
                         const std::vector<std::pair<std::string, std::string>>& headers = {},
                         const std::string& contentType = "text/plain; charset=utf-8")
{
    auto start = Clock::now();
    Poco::Net::HTTPClientSession session("127.0.0.1", port);
    session.setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest req("POST", "/" + id, Poco::Net::HTTPMessage::HTTP_1_1);
    req.setContentType(contentType);
    req.setContentLength(static_cast<std::streamsize>(body.size()));
    for (const auto& h : headers) req.set(h.first, h.second);
    session.sendRequest(req) << body;
    Poco::Net::HTTPResponse resp;
    std::istream& in = session.receiveResponse(resp);
    PushAnswer a;
    a.status = resp.getStatus();
    a.node = resp.get("X-Ws2api-Node", "");
    Poco::StreamCopier::copyToString(in, a.body);
    a.ms = msSince(start);
    return a;
}

/// "127.0.0.1:<port>"
inline std::string local(unsigned short port) { return "127.0.0.1:" + std::to_string(port); }

} // namespace ws2api::test
