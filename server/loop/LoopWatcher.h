#pragma once
// Something outside loop/ that does its own non-blocking I/O on a loop: its
// descriptors sit in the loop's epoll set (tagged with EventLoop::kWatchTag)
// and it may hold one timer in the loop's wheel for watchers. The cluster's
// peer connections (server/cluster/PeerForwarder) are one.
//
// Thread rules: registered, called and unregistered on its loop's thread only.
// A watcher may destroy itself inside any of its callbacks (the loop touches
// neither the watcher nor its timer entry after the call returns).
#include "server/loop/TimerWheel.h"

#include <cstdint>

namespace ws2api {

class LoopWatcher : public TimerWheel::Entry {
public:
    virtual ~LoopWatcher() = default;
    /// epoll events for the descriptor registered under `tag` (EventLoop::watchInLoop).
    virtual void onFdEventsInLoop(std::uint64_t tag, std::uint32_t events) = 0;
    /// The timer armed with EventLoop::scheduleInLoop is due.
    virtual void onTimerInLoop(std::int64_t nowMs) = 0;
    /// The loop is exiting: give up every descriptor (EventLoop::unwatchInLoop)
    /// and the timer now; nothing is called afterwards.
    virtual void onLoopExitInLoop() = 0;
};

} // namespace ws2api
