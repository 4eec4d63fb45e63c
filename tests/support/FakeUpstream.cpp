#include "tests/support/FakeUpstream.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/String.h>

#include <thread>

namespace ws2api::test {

namespace {
class Handler : public Poco::Net::HTTPRequestHandler {
public:
    explicit Handler(FakeUpstream& owner) : owner_(owner) {}
    void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override
    {
        RecordedRequest r;
        r.method = request.getMethod();
        const std::string& uri = request.getURI();
        std::size_t q = uri.find('?');
        r.path = uri.substr(0, q);
        if (q != std::string::npos) r.query = uri.substr(q + 1);
        for (const auto& h : request) r.headers[Poco::toLower(h.first)] = h.second;
        r.contentType = request.get("Content-Type", "");
        Poco::StreamCopier::copyToString(request.stream(), r.body);
        FakeUpstream::InFlight guard(owner_);
        FakeReply reply = owner_.handle(std::move(r));
        if (reply.delayMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(reply.delayMs));
        response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
        response.setContentType(reply.contentType);
        for (const auto& h : reply.headers) response.set(h.first, h.second);
        response.setContentLength(static_cast<std::streamsize>(reply.body.size()));
        response.send() << reply.body;
    }

private:
    FakeUpstream& owner_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit Factory(FakeUpstream& owner) : owner_(owner) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override
    {
        return new Handler(owner_);
    }

private:
    FakeUpstream& owner_;
};
} // namespace

FakeUpstream::FakeUpstream() : behaviour_(&FakeUpstream::defaultReply) { serve(0); }

void FakeUpstream::restart()
{
    stop();
    serve(port_);
}

void FakeUpstream::serve(unsigned short port)
{
    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", port), 256); // SO_REUSEADDR
    port_ = socket.address().port();
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(64);
    params->setMaxQueued(512);
    params->setKeepAliveTimeout(Poco::Timespan(30, 0));
    // Its own thread pool: the default pool (16 threads) would cap the
    // parallelism the tests check.
    static Poco::ThreadPool pool(8, 128);
    server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(*this), pool, socket, params);
    server_->start();
}

FakeUpstream::~FakeUpstream() { stop(); }

void FakeUpstream::stop()
{
    if (server_) {
        server_->stopAll(true);
        server_.reset();
    }
    // Handlers that were already running (a delayed reply, say) still use this
    // object: wait for them before it can go away.
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, std::chrono::seconds(30), [this] { return inFlight_ == 0; });
}

FakeReply FakeUpstream::defaultReply(const RecordedRequest& request)
{
    FakeReply reply;
    if (request.method == "POST") {
        reply.body = request.body;
        reply.contentType = request.contentType.empty() ? "text/plain" : request.contentType;
    } else {
        reply.body = "ok";
    }
    return reply;
}

void FakeUpstream::setBehaviour(Behaviour behaviour)
{
    std::lock_guard<std::mutex> lock(mutex_);
    behaviour_ = std::move(behaviour);
}

std::string FakeUpstream::url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

FakeReply FakeUpstream::handle(RecordedRequest&& request)
{
    Behaviour behaviour;
    {
        // Recorded on arrival, before the behaviour runs (it may block or sleep).
        std::lock_guard<std::mutex> lock(mutex_);
        behaviour = behaviour_;
        requests_.push_back(request);
    }
    changed_.notify_all();
    return behaviour(request);
}

std::vector<RecordedRequest> FakeUpstream::requests() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
}

std::vector<RecordedRequest> FakeUpstream::requests(const std::string& method, const std::string& path) const
{
    std::vector<RecordedRequest> out;
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& r : requests_)
        if ((method.empty() || r.method == method) && (path.empty() || r.path == path)) out.push_back(r);
    return out;
}

bool FakeUpstream::waitFor(const std::string& method, const std::string& path, std::size_t count, int timeoutMs) const
{
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, std::chrono::milliseconds(timeoutMs), [&] {
        std::size_t n = 0;
        for (const auto& r : requests_)
            if ((method.empty() || r.method == method) && (path.empty() || r.path == path)) ++n;
        return n >= count;
    });
}

} // namespace ws2api::test
