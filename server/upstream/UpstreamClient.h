#pragma once
// A blocking keep-alive HTTP client (Poco::Net::HTTPClientSession) for the
// calls where blocking is right: the Reconciler's live-set reports. Client
// messages never go through it: they run on the loops (UpstreamPool).
// https:// goes through POCO's HTTPSClientSession with the same trust as the
// loops' connections (upstream.ca_file or the system store, the host name
// checked, the client certificate keys, TLS 1.2 or later).
//
// Thread rules: owned and used by one thread; abort() from any thread.
#include "common/Config.h"
#include "server/upstream/UpstreamTypes.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/URI.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace ws2api {

class UpstreamClient {
public:
    UpstreamClient(const Poco::URI& base, const Config& config);

    /// Sends one request and reads the whole answer (body capped at maxBody).
    /// A kept-alive connection the server has closed is detected before
    /// sending; if one fails anyway, the request is retried once on a fresh
    /// connection only when `idempotent` (GET, DELETE), because a POST that
    /// may have reached the API must not be delivered twice.
    UpstreamResponse request(const std::string& method, const std::string& pathAndQuery,
                             const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body,
                             const char* contentType, bool idempotent, std::size_t maxBody);

    /// Any thread: makes a request in progress fail at once (its socket is
    /// shut down) and every later one fail without being sent. For a shutdown
    /// that must not wait for a slow API.
    void abort();

private:
    bool connectionLooksStale();
    void setActiveSocket(int fd);

    /// How many received bytes POCO holds that no answer consumed.
    int buffered() const;

    const Config& config_;
    std::unique_ptr<Poco::Net::HTTPClientSession> session_; ///< an HTTPSClientSession for https://
    // The socket of the request waiting for its answer, so abort() can shut it
    // down. The owning thread cannot close it while it is registered (same mutex).
    std::mutex activeMutex_;
    int activeFd_ = -1;
    std::atomic<bool> aborted_{false};
    std::string hostHeader_;
};

} // namespace ws2api
