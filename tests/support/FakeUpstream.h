#pragma once
// A real HTTP server standing in for the API, started by the test on
// 127.0.0.1:0. It records every request in arrival order and answers with
// the behaviour the test sets (by default: GET -> "ok", POST -> echo, DELETE -> "ok").
#include "tests/support/Timing.h"

#include <Poco/Net/HTTPServer.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ws2api::test {

struct RecordedRequest {
    std::string method;
    std::string path;  ///< raw path, as sent (percent-encoding kept)
    std::string query; ///< raw query without '?'
    std::map<std::string, std::string> headers; ///< names lower-cased
    std::string body;
    std::string contentType;
    std::string header(const std::string& lowerName) const
    {
        auto it = headers.find(lowerName);
        return it == headers.end() ? std::string() : it->second;
    }
};

struct FakeReply {
    int status = 200;
    std::string body;
    int delayMs = 0;
    std::string contentType = "text/plain";
    std::map<std::string, std::string> headers;
};

class FakeUpstream {
public:
    using Behaviour = std::function<FakeReply(const RecordedRequest&)>;

    FakeUpstream();
    ~FakeUpstream();

    /// Replaces the default behaviour. Called on the server's threads.
    void setBehaviour(Behaviour behaviour);
    /// The default behaviour, with every POST (a client's message) answered `ms` later.
    void delayPosts(int ms)
    {
        setBehaviour([ms](const RecordedRequest& r) {
            FakeReply reply = defaultReply(r);
            if (r.method == "POST") reply.delayMs = ms;
            return reply;
        });
    }
    static FakeReply defaultReply(const RecordedRequest& request);

    std::string url() const; ///< "http://127.0.0.1:<port>/"
    unsigned short port() const { return port_; }

    std::vector<RecordedRequest> requests() const;
    /// Requests with this method and path, in order.
    std::vector<RecordedRequest> requests(const std::string& method, const std::string& path) const;
    /// Waits until `count` requests matching method/path ("" = any) arrived; false on timeout.
    bool waitFor(const std::string& method, const std::string& path, std::size_t count, int timeoutMs = kWaitMs) const;
    void stop();
    /// After stop(): serves again on the same port (an API back from an outage), the record kept.
    void restart();

    // Internal: called by the handler.
    FakeReply handle(RecordedRequest&& request);
    /// Internal: marks a handler as running, so stop() can wait for it.
    struct InFlight {
        explicit InFlight(FakeUpstream& u) : owner(u)
        {
            std::lock_guard<std::mutex> lock(owner.mutex_);
            ++owner.inFlight_;
        }
        ~InFlight()
        {
            // Notify under the lock: stop() may destroy the owner as soon as it sees 0.
            std::lock_guard<std::mutex> lock(owner.mutex_);
            --owner.inFlight_;
            owner.changed_.notify_all();
        }
        FakeUpstream& owner;
    };

private:
    void serve(unsigned short port);

    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::vector<RecordedRequest> requests_;
    Behaviour behaviour_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
    unsigned short port_ = 0;
    int inFlight_ = 0;
};

} // namespace ws2api::test
