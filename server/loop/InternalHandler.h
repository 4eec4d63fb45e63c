#pragma once
// What the internal listener's connections (HttpServerConnection, on the
// loops) hand their requests to: the internal API (server/api/InternalApi).
// loop/ knows only this interface; the routing, pushes, groups and the
// management API live in api/.
//
// HttpReply is the answer's address: the loop and connection that got the
// request and the request's place in that connection's order. It may be
// copied to any thread and used once; the connection writes the answers in
// request order (pipelining) whatever order they come in. An answer for a
// connection that has gone is dropped.
#include "server/http/HttpMessage.h"

#include <cstddef>
#include <cstdint>

namespace ws2api {

class EventLoop;

class HttpReply {
public:
    HttpReply() = default;
    HttpReply(EventLoop* loop, std::uint64_t connection, std::uint64_t seq)
        : loop_(loop), connection_(connection), seq_(seq)
    {
    }
    /// Any thread; at most once per request. On the connection's loop it is
    /// written at once, from elsewhere it is posted there.
    void send(HttpResponse&& response) const;
    EventLoop& loop() const { return *loop_; }

private:
    EventLoop* loop_ = nullptr;
    std::uint64_t connection_ = 0;
    std::uint64_t seq_ = 0;
};

class InternalHandler {
public:
    virtual ~InternalHandler() = default;
    /// The largest body accepted for a request with this head (413 over it).
    /// Loop thread; must be quick.
    virtual BodyBound maxBodyBytes(const HttpRequest& head) const = 0;
    /// A complete request, on the loop thread of its connection: answer it
    /// through `reply`, now or later, from any thread; never block here.
    virtual void handleInLoop(EventLoop& loop, HttpRequest&& request, HttpReply reply) = 0;
};

} // namespace ws2api
