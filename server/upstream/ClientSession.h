#pragma once
// What the bridge knows of one client's session with the API, from the
// connect GET to the DELETE: the registry's record for a ClientId, and the
// queue (strand) of that client's upstream requests.
//
// Thread rules: created by the owning loop at the handshake and shared
// (shared_ptr) with the Registry, so pushes and the Reconciler can find it
// from other threads. The identity fields are written before the record is
// published and never change; the atomics may be read anywhere; every field
// under "owning loop only" is touched only on `loop`'s thread.
#include "server/upstream/UpstreamTypes.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ws2api {

class EventLoop;

struct ClientSession {
    std::string clientId;    ///< decoded
    std::string encodedId;   ///< percent-encoded, for upstream URLs
    std::string rawQuery;    ///< client's query string, forwarded as is (already checked)
    std::string peerAddress; ///< client IP, appended to X-Forwarded-For
    std::vector<std::pair<std::string, std::string>> forwardHeaders;
    std::string protocol; ///< subprotocol returned in the 101 (set on the loop when it opens)

    EventLoop* loop = nullptr; ///< owning loop; its upstream pool runs the requests
    std::uint64_t connId = 0;  ///< connection id inside that loop

    std::atomic<bool> accepted{false};     ///< the connect GET was answered "ok"; a DELETE is owed
    std::atomic<bool> deleteSent{false};   ///< the DELETE ran; later POSTs of this session are dropped
    std::atomic<bool> ended{false};        ///< the connection is gone; a connect GET not yet sent is skipped
    std::atomic<bool> deleteQueued{false}; ///< exactly one DELETE is queued

    // ---- owning loop only: the strand (UpstreamPool) ----
    // One request of a session runs at a time, in submission order: the API sees
    // a client's messages in order, their replies come back in order, and the
    // DELETE comes after the last POST.
    std::unique_ptr<UpstreamJob> jobsHead; ///< queued, not started (singly linked: no per-client deque)
    UpstreamJob* jobsTail = nullptr;
    bool busy = false;    ///< a request of this session is running (or waiting for an upstream connection)
    bool blocked = false; ///< waits for the session it replaced to finish its DELETE (docs/architecture.md)
    /// Run on this loop once the strand is empty after the session ended
    /// (a replacing session on another loop waits for this).
    std::vector<std::function<void()>> whenDrained;
};

} // namespace ws2api
