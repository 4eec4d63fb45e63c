#pragma once
// What the upstream side knows of one client connection. Shared between the
// owning event loop and the upstream workers (shared_ptr): the connection
// itself is never touched off its loop; results are posted back by (loop, id)
// and the loop checks the id is still alive.
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ws2api {

class EventLoop;

struct Session {
    std::string clientId;    ///< decoded
    std::string encodedId;   ///< percent-encoded, for upstream URLs
    std::string rawQuery;    ///< client's query string, forwarded as is (already checked)
    std::string peerAddress; ///< client IP, appended to X-Forwarded-For
    std::vector<std::pair<std::string, std::string>> forwardHeaders;
    std::string protocol; ///< subprotocol returned in the 101 (set on the loop when it opens)

    EventLoop* loop = nullptr; ///< owning loop; results go there
    std::uint64_t connId = 0;  ///< connection id inside that loop

    // Set in the strand of clientId (one upstream worker at a time):
    std::atomic<bool> accepted{false};   ///< the connect GET was answered "ok"
    std::atomic<bool> deleteSent{false}; ///< the DELETE ran; later POSTs of this session are dropped
    // Set by loops:
    std::atomic<bool> ended{false};       ///< the connection is gone; a connect GET not yet sent is skipped
    std::atomic<bool> deleteQueued{false}; ///< exactly one DELETE is submitted (owner or replacer)
};

} // namespace ws2api
