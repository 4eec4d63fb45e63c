#pragma once
// The values that travel between a client connection and the upstream pool
// of its loop: a job (what to ask the API) and its result (what it answered).
#include <cstdint>
#include <memory>
#include <string>

namespace ws2api {

enum class UpstreamKind : std::uint8_t { Connect, Message, Disconnect };

struct UpstreamJob {
    UpstreamKind kind = UpstreamKind::Message;
    bool binary = false;
    std::string body; ///< message, or DELETE cause
    std::int64_t submittedUs = 0; ///< steady clock, when it was queued (the stage histograms)
    std::unique_ptr<UpstreamJob> next; ///< the session's queue (ClientSession::jobsHead)
};

struct UpstreamResponse {
    bool answered = false; ///< a whole HTTP response arrived (any status)
    int status = 0;
    std::string body;
    std::string protocol; ///< Sec-WebSocket-Protocol header of the answer
    std::string groupsJoin;  ///< Ws2api-Groups header(s) of the answer, comma-joined
    std::string groupsLeave; ///< Ws2api-Groups-Leave header(s)
    std::string error;    ///< when !answered: why (timeout, refused, ...)
};

struct UpstreamResult {
    UpstreamKind kind = UpstreamKind::Message;
    bool binary = false;  ///< Message: the client's message was binary (reply uses the same frame type)
    bool skipped = false; ///< not sent (connection already ended, or session already deleted)
    std::int64_t submittedUs = 0; ///< the job's submittedUs: when the client's event was read
    UpstreamResponse response;
    bool ok() const { return response.answered && response.status >= 200 && response.status < 300; }
};

} // namespace ws2api
