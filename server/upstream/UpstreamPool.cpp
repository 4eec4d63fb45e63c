#include "server/upstream/UpstreamPool.h"

#include "server/loop/EventLoop.h"
#include "server/loop/Registry.h"
#include "server/metrics/Metrics.h"

#include <Poco/Logger.h>
#include <Poco/String.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sys/epoll.h>
#include <sys/socket.h>

namespace ws2api {

namespace {
Poco::Logger& log() { return Poco::Logger::get("ws2api"); }
} // namespace

UpstreamPool::UpstreamPool(EventLoop& loop, UpstreamEndpoint& endpoint, Registry& registry, std::uint64_t idBase,
                           ResultSink sink)
    : loop_(loop), endpoint_(endpoint), registry_(registry), idBase_(idBase), sink_(std::move(sink)),
      pacer_(maxConnectionsPerLoop())
{
    pacer_.configure(endpoint_.config().getBool(KeyId::UpstreamAdaptiveConnections), maxConnectionsPerLoop(),
                     endpoint_.config().getInt(KeyId::UpstreamConnectBackoffMs));
    publishLimitInLoop();
}

UpstreamPool::~UpstreamPool()
{
    closeAllInLoop();
    endpoint_.metrics().upstreamLimit.fetch_sub(shownLimit_, std::memory_order_relaxed);
}

void UpstreamPool::publishLimitInLoop()
{
    const auto shown = static_cast<std::int64_t>(std::min<double>(pacer_.limit(), 1e9));
    if (shown == shownLimit_) return;
    endpoint_.metrics().upstreamLimit.fetch_add(shown - shownLimit_, std::memory_order_relaxed);
    shownLimit_ = shown;
}

std::size_t UpstreamPool::maxConnectionsPerLoop() const
{
    const auto total = static_cast<std::size_t>(endpoint_.config().getInt(KeyId::UpstreamMaxConnections));
    const std::size_t loops = std::max<std::size_t>(1, endpoint_.loops());
    return std::max<std::size_t>(1, (total + loops - 1) / loops);
}

// ---- strands ----

bool UpstreamPool::submitInLoop(const std::shared_ptr<ClientSession>& session, UpstreamKind kind, std::string body,
                                bool binary)
{
    if (kind == UpstreamKind::Message) {
        if (!endpoint_.tryAddMessageJob()) return false;
    } else {
        endpoint_.addJob();
    }
    pacer_.noteSubmitted(loop_.nowMs(), static_cast<std::size_t>(kind));
    auto job = std::make_unique<UpstreamJob>();
    job->kind = kind;
    job->binary = binary;
    job->body = std::move(body);
    job->submittedUs = steadyMicros();
    UpstreamJob* raw = job.get();
    if (session->jobsTail)
        session->jobsTail->next = std::move(job);
    else
        session->jobsHead = std::move(job);
    session->jobsTail = raw;
    startStrandInLoop(session);
    return true;
}

void UpstreamPool::unblockInLoop(const std::shared_ptr<ClientSession>& session)
{
    session->blocked = false;
    startStrandInLoop(session);
}

void UpstreamPool::whenDrainedInLoop(const std::shared_ptr<ClientSession>& session, std::function<void()> fn)
{
    if (!session->busy && !session->blocked && !session->jobsHead) {
        fn();
        return;
    }
    session->whenDrained.push_back(std::move(fn));
}

void UpstreamPool::startStrandInLoop(const std::shared_ptr<ClientSession>& s)
{
    while (!s->busy && !s->blocked && s->jobsHead) {
        std::unique_ptr<UpstreamJob> job = std::move(s->jobsHead);
        s->jobsHead = std::move(job->next);
        if (!s->jobsHead) s->jobsTail = nullptr;
        bool skip = false;
        switch (job->kind) {
        case UpstreamKind::Connect: skip = s->ended.load(); break; // the client left before its turn
        case UpstreamKind::Message: skip = s->deleteSent.load() || !s->accepted.load(); break;
        case UpstreamKind::Disconnect: skip = !s->accepted.load(); break; // the API never opened this session
        }
        if (skip) {
            endpoint_.jobDone();
            UpstreamResult r;
            r.kind = job->kind;
            r.binary = job->binary;
            r.skipped = true;
            s->busy = true; // a job submitted from the sink queues behind, in order
            sink_(*s, std::move(r));
            s->busy = false;
            continue;
        }
        auto request = std::make_unique<UpstreamRequest>();
        request->session = s;
        request->bytes = endpoint_.buildRequest(*s, *job);
        request->startedUs = steadyMicros();
        endpoint_.metrics().strandLatency.observeMicros(microsBetween(job->submittedUs, request->startedUs));
        request->job = std::move(job);
        s->busy = true;
        endpoint_.metrics().requestsStarted.fetch_add(1, std::memory_order_relaxed);
        waiting_.push_back(std::move(request));
        pumpInLoop();
        return;
    }
    if (!s->busy && !s->blocked && !s->jobsHead && s->ended.load()) {
        // Drained: the session's last request (its DELETE) is done. Only now may
        // the ClientId's record go, so a reconnect waits for this DELETE.
        registry_.release(*s);
        std::vector<std::function<void()>> fns;
        fns.swap(s->whenDrained);
        for (auto& fn : fns) fn();
    }
}

// ---- connections ----

void UpstreamPool::pumpInLoop()
{
    if (pumping_) return; // the outer call picks up what was queued meanwhile
    pumping_ = true;
    while (!waiting_.empty()) {
        if (endpoint_.aborted()) {
            auto request = std::move(waiting_.front());
            waiting_.pop_front();
            failUnsentInLoop(std::move(request), "bridge is shutting down");
            continue;
        }
        if (UpstreamConnection* idle = takeIdleInLoop()) {
            auto request = std::move(waiting_.front());
            waiting_.pop_front();
            sendOnInLoop(*idle, std::move(request));
            continue;
        }
        if (connections_.size() >= maxConnectionsPerLoop()) break; // one that finishes pumps again
        // Here every connection is busy or connecting (no idle one was left).
        if (!pacer_.mayOpen(connections_.size(), connecting_, loop_.nowMs())) {
            if (endpoint_.stopping() && pacer_.backingOff()) {
                // Shutting down and the API refuses: what would wait for the backoff fails now.
                auto request = std::move(waiting_.front());
                waiting_.pop_front();
                failUnsentInLoop(std::move(request), "the API refused connections while the bridge was stopping");
                continue;
            }
            if (pacer_.noteWaiting(loop_.nowMs())) { // the window's submissions already show more demand
                publishLimitInLoop();
                continue;
            }
            break; // a connection finishing, or the backoff's end (onTimeInLoop), pumps again
        }
        if (opensThisTurn_ >= kMaxOpensPerTurn) {
            deferred_ = true;
            break;
        }
        if (!endpoint_.descriptors().tryTakeUpstream()) {
            if (loop_.nowMs() - lastNoDescriptorLogMs_ >= 1000) {
                lastNoDescriptorLogMs_ = loop_.nowMs();
                log().warning("loop %d: no file descriptor left for another upstream connection (%z open here); "
                              "requests wait (see server.fd_reserve)",
                              loop_.index(), connections_.size());
            }
            if (!connections_.empty()) break;
            // Nothing here will free a connection: do not let the requests wait forever.
            auto request = std::move(waiting_.front());
            waiting_.pop_front();
            failUnsentInLoop(std::move(request), "no file descriptor left for an upstream connection");
            continue;
        }
        auto request = std::move(waiting_.front());
        waiting_.pop_front();
        ++opensThisTurn_;
        std::string error;
        if (!openInLoop(request, error)) {
            endpoint_.descriptors().releaseUpstream();
            failUnsentInLoop(std::move(request), error);
        }
    }
    pumping_ = false;
}

UpstreamConnection* UpstreamPool::takeIdleInLoop()
{
    const std::int64_t keepAlive = endpoint_.config().getInt(KeyId::UpstreamKeepAliveTimeoutMs);
    while (!idle_.empty()) {
        UpstreamConnection* c = idle_.back();
        idle_.pop_back();
        endpoint_.metrics().upstreamIdle.fetch_sub(1, std::memory_order_relaxed);
        if (loop_.nowMs() - c->idleSinceMs < keepAlive) return c;
        closeConnectionInLoop(*c); // the youngest is too old: so are the rest
    }
    return nullptr;
}

bool UpstreamPool::openInLoop(std::unique_ptr<UpstreamRequest>& request, std::string& error)
{
    bool connected = false;
    int fd = UpstreamConnection::openSocket(endpoint_.address(), connected);
    if (fd < 0) {
        error = std::string("cannot connect: ") + std::strerror(errno);
        return false;
    }
    const std::uint64_t id = idBase_ | nextId_++;
    auto owned = std::make_unique<UpstreamConnection>(id, fd);
    UpstreamConnection& conn = *owned;
    if (UpstreamTls* tls = endpoint_.tls()) {
        SSL* ssl = tls->newConnection(fd, tlsSessions_, error);
        if (!ssl) return false; // owned closes fd
        conn.attachTls(ssl);
    }
    conn.events = connected ? EPOLLIN : EPOLLOUT;
    if (!loop_.watchFdInLoop(fd, id, conn.events)) {
        error = std::string("cannot connect: ") + std::strerror(errno);
        return false; // owned closes fd
    }
    connections_.emplace(id, std::move(owned));
    endpoint_.metrics().upstreamConnects.fetch_add(1, std::memory_order_relaxed);
    endpoint_.metrics().upstreamConnections.fetch_add(1, std::memory_order_relaxed);
    ++connecting_; // until connectedInLoop or its close
    markSentInLoop(*request, true);
    const std::int64_t deadline = deadlineOf(*request);
    conn.begin(std::move(request), static_cast<std::size_t>(endpoint_.config().getInt(KeyId::LimitsMaxMessageBytes)));
    armInLoop(conn, deadline);
    if (connected && conn.tls()) {
        conn.setState(UpstreamConnection::State::Handshaking);
        handshakeInLoop(conn);
    } else if (connected) {
        connectedInLoop(conn);
        writeInLoop(conn);
    }
    return true;
}

void UpstreamPool::handshakeInLoop(UpstreamConnection& conn)
{
    std::string error;
    bool wantWrite = false;
    switch (conn.handshake(error, wantWrite)) {
    case UpstreamConnection::Io::Done:
        endpoint_.tls()->handshakeDone(conn.tls());
        connectedInLoop(conn);
        writeInLoop(conn);
        return;
    case UpstreamConnection::Io::Again: setEventsInLoop(conn, wantWrite ? EPOLLOUT : EPOLLIN); return;
    case UpstreamConnection::Io::Failed:
        endpoint_.tls()->handshakeFailed(error);
        failInLoop(conn, error, false); // never a retry: the same certificate would fail again
        return;
    }
}

std::int64_t UpstreamPool::deadlineOf(const UpstreamRequest& request) const
{
    // Within upstream.timeout_ms of its start, the time it waited for a connection included.
    return request.startedUs / 1000 + endpoint_.config().getInt(KeyId::UpstreamTimeoutMs);
}

void UpstreamPool::connectedInLoop(UpstreamConnection& conn)
{
    --connecting_;
    if (const UpstreamRequest* r = conn.request()) // its sentUs is when this connection was opened for it
        endpoint_.metrics().upstreamConnectLatency.observeMicros(sinceMicros(r->sentUs));
    pacer_.onConnected();
    conn.setState(UpstreamConnection::State::Busy);
}

void UpstreamPool::markSentInLoop(UpstreamRequest& request, bool newConnection)
{
    request.onNewConnection = newConnection;
    request.sentUs = steadyMicros();
    endpoint_.metrics().upstreamQueueLatency.observeMicros(microsBetween(request.startedUs, request.sentUs));
}

void UpstreamPool::sendOnInLoop(UpstreamConnection& conn, std::unique_ptr<UpstreamRequest> request)
{
    markSentInLoop(*request, false);
    const std::int64_t deadline = deadlineOf(*request);
    conn.begin(std::move(request), static_cast<std::size_t>(endpoint_.config().getInt(KeyId::LimitsMaxMessageBytes)));
    conn.setState(UpstreamConnection::State::Busy);
    armInLoop(conn, deadline);
    writeInLoop(conn);
}

void UpstreamPool::writeInLoop(UpstreamConnection& conn)
{
    if (UpstreamRequest* r = conn.request()) r->written = true; // from here it may reach the API
    std::string error;
    std::uint32_t want = EPOLLIN;
    switch (conn.writeRequest(error)) {
    case UpstreamConnection::Io::Done: break;
    case UpstreamConnection::Io::Again:
        // TLS may need to read before it can write on (then EPOLLOUT would spin).
        if (!conn.tls() || conn.tlsWantsWrite()) want |= EPOLLOUT;
        break;
    case UpstreamConnection::Io::Failed: failInLoop(conn, error, true); return;
    }
    setEventsInLoop(conn, want);
}

void UpstreamPool::setEventsInLoop(UpstreamConnection& conn, std::uint32_t events)
{
    if (conn.events == events) return; // the usual case: no epoll_ctl per request
    conn.events = events;
    loop_.modifyFdInLoop(conn.fd(), conn.id(), events);
}

void UpstreamPool::onEventsInLoop(std::uint64_t tag, std::uint32_t events)
{
    auto it = connections_.find(tag);
    if (it == connections_.end()) return;
    UpstreamConnection& conn = *it->second;
    using State = UpstreamConnection::State;
    if (conn.state() == State::Connecting) {
        std::string error;
        if (conn.finishConnect(error) == UpstreamConnection::Io::Failed) {
            failInLoop(conn, error, false);
            return;
        }
        if (conn.tls()) {
            conn.setState(State::Handshaking);
            handshakeInLoop(conn);
            return;
        }
        connectedInLoop(conn);
        writeInLoop(conn);
        return;
    }
    if (conn.state() == State::Handshaking) {
        handshakeInLoop(conn); // an error or hang-up shows as a failed handshake
        return;
    }
    // TLS: a read may wait for the socket to take bytes (tlsWantsWrite), and a
    // write may wait for bytes to arrive, so both are retried on either event.
    if ((events & EPOLLIN) || ((events & EPOLLOUT) && conn.tls() && conn.tlsWantsWrite() && !conn.writing()))
        readInLoop(conn);
    if (conn.state() == State::Closed) return;
    if (conn.writing() && ((events & EPOLLOUT) || conn.tls())) writeInLoop(conn);
    if (conn.state() == State::Closed) return;
    if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN)) {
        if (conn.state() == State::Idle)
            closeConnectionInLoop(conn);
        else
            failInLoop(conn, "upstream reset the connection", true);
    }
}

void UpstreamPool::readInLoop(UpstreamConnection& conn)
{
    using State = UpstreamConnection::State;
    using Read = UpstreamConnection::Read;
    char* buf = loop_.readBuffer();
    for (;;) {
        std::size_t n = 0;
        std::string error;
        switch (conn.receive(buf, EventLoop::kReadBufferSize, n, error)) {
        case Read::Data: {
            if (conn.state() != State::Busy) { // idle: the API closed it or sent junk; never reuse it
                closeConnectionInLoop(conn);
                return;
            }
            std::size_t consumed = 0;
            HttpResponseParser::Status st = conn.parser().feed(buf, n, consumed);
            if (st == HttpResponseParser::Status::Complete) {
                // Bytes after the answer: the connection is desynchronised.
                if (consumed < n || conn.hasBuffered()) conn.reusable = false;
                completeInLoop(conn);
                return;
            }
            if (st == HttpResponseParser::Status::Error) {
                failInLoop(conn, conn.parser().error(), false);
                return;
            }
            // Level-triggered: what the socket still holds wakes us again; what
            // TLS holds already read from it does not.
            if (n < EventLoop::kReadBufferSize && !conn.hasBuffered()) return;
            continue;
        }
        case Read::Eof:
            if (conn.state() != State::Busy) {
                closeConnectionInLoop(conn);
                return;
            }
            if (conn.parser().feedEof() == HttpResponseParser::Status::Complete) {
                conn.reusable = false;
                completeInLoop(conn);
            } else {
                failInLoop(conn, conn.parser().error(), true);
            }
            return;
        case Read::Again:
            // (TLS: an idle connection may read a session ticket and nothing else.)
            if (conn.tlsWantsWrite())
                setEventsInLoop(conn, EPOLLIN | EPOLLOUT);
            else if (!conn.writing())
                setEventsInLoop(conn, EPOLLIN);
            return;
        case Read::Failed:
            if (conn.state() != State::Busy)
                closeConnectionInLoop(conn);
            else
                failInLoop(conn, error, true);
            return;
        }
    }
}

void UpstreamPool::completeInLoop(UpstreamConnection& conn)
{
    HttpResponseParser& p = conn.parser();
    UpstreamResponse response;
    response.answered = true;
    response.status = p.status();
    response.protocol = p.header("Sec-WebSocket-Protocol");
    for (const auto& [name, value] : p.headers()) {
        std::string* list = Poco::icompare(name, "Ws2api-Groups") == 0         ? &response.groupsJoin
                            : Poco::icompare(name, "Ws2api-Groups-Leave") == 0 ? &response.groupsLeave
                                                                               : nullptr;
        if (list) *list += (list->empty() ? "" : ",") + value;
    }
    response.body = p.takeBody();
    if (!p.keepAlive() || conn.writing()) conn.reusable = false; // answered before it read the whole request
    ++conn.requestsServed;
    std::unique_ptr<UpstreamRequest> request = conn.takeRequest();
    // The API's time, from the request getting this connection to its answer: one reading
    // for the pacer and the histograms.
    const std::uint64_t tookUs = sinceMicros(request->sentUs);
    Metrics& m = endpoint_.metrics();
    m.upstreamLatency.observeMicros(tookUs);
    if (request->onNewConnection) m.upstreamNewConnectionLatency.observeMicros(tookUs);
    pacer_.onAnswer(static_cast<std::int64_t>(tookUs), loop_.nowMs(), static_cast<std::size_t>(request->job->kind));
    publishLimitInLoop();
    disarmInLoop(conn);
    releaseConnectionInLoop(conn);
    finishInLoop(std::move(request), std::move(response));
    pumpInLoop();
}

void UpstreamPool::releaseConnectionInLoop(UpstreamConnection& conn)
{
    // nginx's keep-alive checklist: complete answer, keep-alive, nothing after
    // it, not shutting down, keep-alive time not zero.
    if (!conn.reusable || endpoint_.aborted() || endpoint_.config().getInt(KeyId::UpstreamKeepAliveTimeoutMs) == 0) {
        closeConnectionInLoop(conn);
        return;
    }
    conn.setState(UpstreamConnection::State::Idle);
    conn.idleSinceMs = loop_.nowMs();
    idle_.push_back(&conn);
    endpoint_.metrics().upstreamIdle.fetch_add(1, std::memory_order_relaxed);
    setEventsInLoop(conn, EPOLLIN); // stays watched: the API closing it is seen at once
}

void UpstreamPool::failInLoop(UpstreamConnection& conn, const std::string& error, bool retryable, bool timedOut)
{
    std::unique_ptr<UpstreamRequest> request = conn.takeRequest();
    const bool answerStarted = conn.parser().started();
    const bool reused = conn.requestsServed > 0;
    closeConnectionInLoop(conn);
    // What the API's state shows: a fresh connection that failed before any
    // answer byte (refused, reset, TLS failed) or a request that timed out. A
    // kept-alive one closed under a request is the usual keep-alive race.
    if (timedOut || (!reused && !answerStarted)) {
        if (!reused) endpoint_.metrics().upstreamConnectFailures.fetch_add(1, std::memory_order_relaxed);
        pacer_.onFailure(loop_.nowMs());
        publishLimitInLoop();
    }
    if (!request) return;
    // A kept-alive connection the API closed just as the request went out: a
    // GET or DELETE is sent once more on a fresh connection; a POST may have
    // reached the API and is never sent twice.
    if (retryable && reused && !answerStarted && request->idempotent() && !request->retried && !endpoint_.aborted()) {
        request->retried = true;
        waiting_.push_front(std::move(request));
        pumpInLoop();
        return;
    }
    UpstreamResponse response;
    response.error = error;
    finishInLoop(std::move(request), std::move(response));
    pumpInLoop();
}

void UpstreamPool::failUnsentInLoop(std::unique_ptr<UpstreamRequest> request, const std::string& error)
{
    UpstreamResponse response;
    response.error = error;
    finishInLoop(std::move(request), std::move(response));
}

bool UpstreamPool::retryDeleteInLoop(std::unique_ptr<UpstreamRequest>& request)
{
    const Config& config = endpoint_.config();
    const std::int64_t now = loop_.nowMs();
    if (request->firstTryMs == 0) request->firstTryMs = now;
    const std::int64_t bound = config.getInt(KeyId::UpstreamDeleteRetryMs);
    const std::int64_t backoff = std::min<std::int64_t>(8000, 250LL << std::min(request->deleteRetries, 5));
    if (endpoint_.aborted() || endpoint_.stopping() || bound == 0 || request->deleteRetries >= config.getInt(KeyId::UpstreamDeleteRetries) ||
        now + backoff > request->firstTryMs + bound)
        return false;
    ++request->deleteRetries;
    retries_.emplace(now + backoff, std::move(request));
    return true;
}

void UpstreamPool::finishInLoop(std::unique_ptr<UpstreamRequest> request, UpstreamResponse&& response)
{
    // A DELETE that never reached the API is sent again later (its strand stays busy).
    if (request->job->kind == UpstreamKind::Disconnect && !response.answered && !request->written) {
        if (retryDeleteInLoop(request)) return;
        endpoint_.metrics().upstreamDeletesAbandoned.fetch_add(1, std::memory_order_relaxed);
    }
    // Counted out before the reply reaches the client: a client that sends its
    // next message on the reply must not find this one still counted.
    endpoint_.jobDone();
    Metrics& m = endpoint_.metrics();
    UpstreamResult result;
    result.kind = request->job->kind;
    result.binary = request->job->binary;
    result.submittedUs = request->job->submittedUs;
    result.response = std::move(response);
    if (result.ok())
        m.requestsSucceeded.fetch_add(1, std::memory_order_relaxed);
    else
        m.requestsFailed.fetch_add(1, std::memory_order_relaxed);
    ClientSession& s = *request->session;
    if (result.kind == UpstreamKind::Connect && result.ok() && result.response.status == 200 &&
        result.response.body == "ok")
        s.accepted.store(true);
    if (result.kind == UpstreamKind::Disconnect) s.deleteSent.store(true);
    std::shared_ptr<ClientSession> session = std::move(request->session);
    request.reset();
    // The strand stays busy until the reply is handed over: replies keep their order.
    sink_(s, std::move(result));
    session->busy = false;
    startStrandInLoop(session);
}

void UpstreamPool::closeConnectionInLoop(UpstreamConnection& conn)
{
    if (conn.state() == UpstreamConnection::State::Closed) return;
    if (conn.state() == UpstreamConnection::State::Idle) {
        auto it = std::find(idle_.begin(), idle_.end(), &conn);
        if (it != idle_.end()) {
            idle_.erase(it);
            endpoint_.metrics().upstreamIdle.fetch_sub(1, std::memory_order_relaxed);
        }
    }
    if (conn.connecting()) --connecting_;
    disarmInLoop(conn);
    conn.close();
    endpoint_.descriptors().releaseUpstream();
    endpoint_.metrics().upstreamConnections.fetch_sub(1, std::memory_order_relaxed);
    auto it = connections_.find(conn.id());
    if (it != connections_.end()) {
        graveyard_.push_back(std::move(it->second));
        connections_.erase(it);
    }
}

// ---- deadlines ----

void UpstreamPool::armInLoop(UpstreamConnection& conn, std::int64_t deadlineMs)
{
    disarmInLoop(conn);
    conn.deadlineMs = deadlineMs;
    conn.timed = true;
    // From the back: with one timeout for all, the new deadline is the latest.
    UpstreamConnection* after = timedTail_;
    while (after && after->deadlineMs > deadlineMs) after = after->prev;
    conn.prev = after;
    conn.next = after ? after->next : timedHead_;
    if (conn.next)
        conn.next->prev = &conn;
    else
        timedTail_ = &conn;
    if (after)
        after->next = &conn;
    else
        timedHead_ = &conn;
}

void UpstreamPool::disarmInLoop(UpstreamConnection& conn)
{
    if (!conn.timed) return;
    if (conn.prev)
        conn.prev->next = conn.next;
    else
        timedHead_ = conn.next;
    if (conn.next)
        conn.next->prev = conn.prev;
    else
        timedTail_ = conn.prev;
    conn.prev = conn.next = nullptr;
    conn.timed = false;
}

int UpstreamPool::msUntilDeadlineInLoop(std::int64_t nowMs) const
{
    if (deferred_) return 0;
    std::int64_t next = -1;
    if (timedHead_) next = std::max<std::int64_t>(0, timedHead_->deadlineMs - nowMs);
    // The oldest idle connection's keep-alive end: a loop with no traffic wakes
    // for it too, so idle connections close on time whether or not requests come.
    auto consider = [&](std::int64_t atMs) {
        const std::int64_t due = std::max<std::int64_t>(0, atMs - nowMs);
        if (next < 0 || due < next) next = due;
    };
    if (!idle_.empty())
        consider(idle_.front()->idleSinceMs + endpoint_.config().getInt(KeyId::UpstreamKeepAliveTimeoutMs));
    if (!waiting_.empty()) {
        consider(deadlineOf(*waiting_.front()));
        if (std::int64_t retryAt = pacer_.retryAtMs()) consider(retryAt); // the next connection attempt
    }
    if (!retries_.empty()) consider(retries_.begin()->first);
    return static_cast<int>(std::min<std::int64_t>(next, 1 << 30));
}

void UpstreamPool::onTimeInLoop(std::int64_t nowMs)
{
    opensThisTurn_ = 0;
    if (deferred_) {
        deferred_ = false;
        pumpInLoop();
    }
    pacer_.configure(endpoint_.config().getBool(KeyId::UpstreamAdaptiveConnections), maxConnectionsPerLoop(),
                     endpoint_.config().getInt(KeyId::UpstreamConnectBackoffMs));
    while (timedHead_ && timedHead_->deadlineMs <= nowMs) // never retried: the API may still be working on it
        failInLoop(*timedHead_, "timeout", false, true);
    // Requests that waited for a connection until their deadline.
    while (!waiting_.empty() && deadlineOf(*waiting_.front()) <= nowMs) {
        auto request = std::move(waiting_.front());
        waiting_.pop_front();
        failUnsentInLoop(std::move(request), "timeout (no connection to the API within upstream.timeout_ms)");
    }
    // DELETEs due to be sent again.
    while (!retries_.empty() && retries_.begin()->first <= nowMs) {
        auto request = std::move(retries_.begin()->second);
        retries_.erase(retries_.begin());
        request->startedUs = steadyMicros();
        request->retried = false;
        request->written = false;
        endpoint_.metrics().upstreamDeleteRetries.fetch_add(1, std::memory_order_relaxed);
        waiting_.push_back(std::move(request));
    }
    if (!waiting_.empty()) pumpInLoop(); // the backoff may be over
    publishLimitInLoop();
    const std::int64_t keepAlive = endpoint_.config().getInt(KeyId::UpstreamKeepAliveTimeoutMs);
    while (!idle_.empty() && nowMs - idle_.front()->idleSinceMs >= keepAlive) closeConnectionInLoop(*idle_.front());
}

std::size_t UpstreamPool::closeIdleInLoop(std::size_t count)
{
    std::size_t closed = 0;
    for (; closed < count && !idle_.empty(); ++closed) closeConnectionInLoop(*idle_.front());
    return closed;
}

void UpstreamPool::abortInLoop()
{
    std::vector<UpstreamConnection*> busy;
    for (auto& entry : connections_)
        if (entry.second->request()) busy.push_back(entry.second.get());
    for (UpstreamConnection* c : busy)
        if (c->state() != UpstreamConnection::State::Closed) failInLoop(*c, "bridge is shutting down", false);
    for (auto& entry : retries_) waiting_.push_back(std::move(entry.second)); // DELETEs waiting to be sent again
    retries_.clear();
    pumpInLoop(); // fails what waits (the endpoint is aborted)
}

void UpstreamPool::closeAllInLoop()
{
    waiting_.clear();
    retries_.clear();
    connecting_ = 0;
    endpoint_.metrics().upstreamIdle.fetch_sub(static_cast<std::int64_t>(idle_.size()), std::memory_order_relaxed);
    idle_.clear();
    timedHead_ = timedTail_ = nullptr;
    for (auto& entry : connections_) {
        entry.second->timed = false;
        if (entry.second->state() != UpstreamConnection::State::Closed) {
            entry.second->close();
            endpoint_.descriptors().releaseUpstream();
            endpoint_.metrics().upstreamConnections.fetch_sub(1, std::memory_order_relaxed);
        }
    }
    connections_.clear();
    graveyard_.clear();
}

} // namespace ws2api
