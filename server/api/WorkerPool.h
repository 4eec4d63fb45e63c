#pragma once
// The internal listener's management workers: a few threads for the calls
// that may block or take long (the management API, SQLite history, group
// listings, cluster forwarding with PeerForwarder's bounded wait), so that
// no event loop ever waits for them. Tasks run in the order submitted.
//
// Thread rules: submit() from any thread; stop() once, from the owner.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ws2api {

class WorkerPool {
public:
    WorkerPool(std::size_t threads, std::size_t maxQueued);
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    /// Queues the task; false (and nothing queued) when maxQueued wait already or after stop().
    bool submit(std::function<void()> task);
    /// Lets running tasks finish, drops the queued ones, joins the threads.
    void stop();
    std::size_t queued() const;

private:
    void run();

    const std::size_t maxQueued_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> tasks_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

} // namespace ws2api
