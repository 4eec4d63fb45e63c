#include "server/upstream/UpstreamDispatcher.h"

#include <Poco/Net/HTTPRequest.h>

#include <algorithm>
#include <chrono>

namespace ws2api {

UpstreamDispatcher::UpstreamDispatcher(const Poco::URI& base, const Config& config, Metrics& metrics, ResultSink sink)
    : base_(base), config_(config), metrics_(metrics), sink_(std::move(sink))
{
    basePath_ = base_.getPath();
    if (basePath_.empty() || basePath_.back() != '/') basePath_ += '/';
}

UpstreamDispatcher::~UpstreamDispatcher() { stop(); }

void UpstreamDispatcher::start(int workers)
{
    for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { workerMain(); });
}

void UpstreamDispatcher::stop()
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    workAvailable_.notify_all();
    for (auto& t : workers_)
        if (t.joinable()) t.join();
    workers_.clear();
}

UpstreamDispatcher::Submit UpstreamDispatcher::submit(UpstreamJob&& job)
{
    std::string key = job.session->clientId;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (job.kind == UpstreamKind::Message &&
            total_ >= static_cast<std::size_t>(config_.getInt(KeyId::UpstreamMaxQueued)))
            return Submit::Overloaded;
        auto [it, created] = strands_.try_emplace(key);
        it->second.jobs.push_back(std::move(job));
        ++total_;
        if (created) ready_.push_back(std::move(key));
    }
    workAvailable_.notify_one();
    return Submit::Queued;
}

bool UpstreamDispatcher::waitIdle(int timeoutMs)
{
    std::unique_lock<std::mutex> lock(mutex_);
    return idle_.wait_for(lock, std::chrono::milliseconds(timeoutMs), [this] { return total_ == 0; });
}

std::size_t UpstreamDispatcher::pending() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return total_;
}

std::string UpstreamDispatcher::pathFor(const Session& session, bool withQuery) const
{
    std::string path = basePath_ + session.encodedId;
    if (withQuery && !session.rawQuery.empty()) {
        path += '?';
        path += session.rawQuery;
    }
    return path;
}

void UpstreamDispatcher::abortInFlight()
{
    std::lock_guard<std::mutex> lock(mutex_);
    for (UpstreamClient* c : clients_) c->abort();
}

void UpstreamDispatcher::workerMain()
{
    UpstreamClient client(base_, config_);
    std::unique_lock<std::mutex> lock(mutex_);
    clients_.push_back(&client);
    struct Unregister {
        std::vector<UpstreamClient*>& list;
        UpstreamClient* c;
        ~Unregister() { list.erase(std::find(list.begin(), list.end(), c)); } // mutex_ is held on every exit
    } unregister{clients_, &client};
    for (;;) {
        workAvailable_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
        if (stopping_) return;
        std::string key = std::move(ready_.front());
        ready_.pop_front();
        // The strand stays in the map (not in ready_) while its job runs, so
        // no other worker can start the next job of this ClientId. References
        // to map elements survive rehashing (iterators do not).
        Strand& strand = strands_.find(key)->second;
        UpstreamJob job = std::move(strand.jobs.front());
        strand.jobs.pop_front();
        lock.unlock();

        UpstreamResult result = run(client, job);

        // The request no longer counts against upstream.max_queued before its
        // reply reaches the client: a client that sends its next message on
        // the reply must not find the previous one still counted. The strand
        // stays busy until the reply is handed over, which keeps replies in order.
        lock.lock();
        --total_;
        lock.unlock();
        if (sink_) sink_(job.session, std::move(result));

        lock.lock();
        if (strand.jobs.empty())
            strands_.erase(key);
        else
            ready_.push_back(std::move(key));
        if (total_ == 0) idle_.notify_all();
    }
}

UpstreamResult UpstreamDispatcher::run(UpstreamClient& client, UpstreamJob& job)
{
    UpstreamResult result;
    result.kind = job.kind;
    result.binary = job.binary;
    Session& s = *job.session;

    const std::string* method = nullptr;
    const char* contentType = nullptr;
    bool forward = true;
    switch (job.kind) {
    case UpstreamKind::Connect:
        if (s.ended.load()) { // the client left before its turn: do not open an API session
            result.skipped = true;
            return result;
        }
        method = &Poco::Net::HTTPRequest::HTTP_GET;
        break;
    case UpstreamKind::Message:
        if (s.deleteSent.load() || !s.accepted.load()) { // the session was replaced and deleted meanwhile
            result.skipped = true;
            return result;
        }
        method = &Poco::Net::HTTPRequest::HTTP_POST;
        contentType = job.binary ? "application/octet-stream" : "text/plain; charset=utf-8";
        forward = config_.getBool(KeyId::UpstreamForwardOnMessages);
        break;
    case UpstreamKind::Disconnect:
        if (!s.accepted.load()) { // the API never opened this session
            result.skipped = true;
            return result;
        }
        method = &Poco::Net::HTTPRequest::HTTP_DELETE;
        contentType = "text/plain; charset=utf-8";
        forward = config_.getBool(KeyId::UpstreamForwardOnMessages);
        break;
    }

    std::vector<std::pair<std::string, std::string>> headers;
    if (forward) {
        std::string xff;
        for (const auto& h : s.forwardHeaders) {
            if (h.first == "X-Forwarded-For")
                xff = h.second;
            else
                headers.push_back(h);
        }
        if (!s.peerAddress.empty()) xff = xff.empty() ? s.peerAddress : xff + ", " + s.peerAddress;
        if (!xff.empty()) headers.emplace_back("X-Forwarded-For", xff);
    }

    // Which bridge holds the session: an API behind several bridges ignores a
    // late DELETE from a node the client has already left (docs/SCALING.md).
    if (!nodeName_.empty()) headers.emplace_back("X-Ws2api-Node", nodeName_);

    metrics_.requestsStarted.fetch_add(1, std::memory_order_relaxed);
    auto started = std::chrono::steady_clock::now();
    result.response = client.request(*method, pathFor(s, forward), headers, job.body, contentType,
                                     job.kind != UpstreamKind::Message,
                                     static_cast<std::size_t>(config_.getInt(KeyId::LimitsMaxMessageBytes)));
    auto micros = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
    if (result.response.answered) metrics_.upstreamLatency.observeMicros(static_cast<std::uint64_t>(micros.count()));
    if (result.ok())
        metrics_.requestsSucceeded.fetch_add(1, std::memory_order_relaxed);
    else
        metrics_.requestsFailed.fetch_add(1, std::memory_order_relaxed);

    if (job.kind == UpstreamKind::Connect && result.ok() && result.response.status == 200 &&
        result.response.body == "ok")
        s.accepted.store(true);
    if (job.kind == UpstreamKind::Disconnect) s.deleteSent.store(true);
    return result;
}

} // namespace ws2api
