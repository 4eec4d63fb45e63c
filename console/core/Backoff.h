#pragma once
// Reconnect delays: exponential from `initial` up to `max`, with +-20 % jitter
// so several consoles do not hammer a restarting bridge in step. Pure; tested.
#include <QtGlobal>

namespace ws2api::console {

class Backoff {
public:
    explicit Backoff(int initialMs = 500, int maxMs = 15000) : initialMs_(initialMs), maxMs_(maxMs) {}

    /// The delay before the next attempt, then doubles the base.
    int next();
    /// After a success: the next failure waits `initial` again.
    void reset() { attempts_ = 0; }
    int attempts() const { return attempts_; }
    int maxMs() const { return maxMs_; }

private:
    int initialMs_;
    int maxMs_;
    int attempts_ = 0;
};

} // namespace ws2api::console
