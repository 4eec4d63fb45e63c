#pragma once
// How many connections one loop may have toward the API (busy or still
// connecting), paced by what the API answers rather than by how many requests
// wait (docs/TUNING.md, "After an API outage"). Without it, requests that
// queued during an outage each open a connection the moment the API is back:
// a connect storm against an API at its weakest.
//
// - The limit follows Little's law: every window (25 ms of answers) it moves
//   to 2 × requests submitted/s × mean latency + 4 — twice the concurrency the
//   demand needs at the latency the API shows, plus a few. Submitted, not
//   answered: a backlog drained after an outage is answered fast, but it is
//   not new demand. While requests waited in that window (the limit
//   was binding) and the window's mean latency stayed near its lowest (at most
//   2 × the base + 1 ms; the base is the lowest window mean, forgetting slowly),
//   it grows at most ×2 per window. Latency is judged per kind of request
//   (connect GET, message POST, DELETE), each against its own base: an API
//   answers a GET in a fraction of the time it takes for a POST, and a ramp's
//   mix (GETs first, then the clients' messages) is not an API slowing down.
//   So a burst ramps up in tens of milliseconds but a queue drained by a few
//   fast connections never opens hundreds, and answers that took long (an API
//   that stalled, one that slows down under load) never make it grow. When nothing waited it only sinks,
//   towards that target (×0.75 per window at most, not below 16 without
//   failures); connections over it are not closed, they idle out.
// - Failures of a fresh connection (refused, reset or timed out before any
//   answer byte; a request timeout) halve the limit and start a backoff:
//   connection attempts are then made one at a time, 25 ms apart, doubling to
//   upstream.connect_backoff_ms, until one connects.
//
// Pure arithmetic on loop milliseconds, no sockets (unit-tested alone).
// Thread rules: owned by one UpstreamPool, used on its loop's thread only.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

namespace ws2api {

class ConnectionPacer {
public:
    /// The limit to start with, and the least it sinks to without failures.
    static constexpr double kInitialLimit = 16;
    static constexpr double kHeadroom = 4;
    static constexpr std::int64_t kWindowMs = 25;
    static constexpr std::int64_t kFirstBackoffMs = 25;

    /// maxLimit: upstream.max_connections' share of this loop.
    explicit ConnectionPacer(std::size_t maxLimit) : max_(static_cast<double>(std::max<std::size_t>(1, maxLimit)))
    {
        limit_ = std::min(kInitialLimit, max_);
    }

    /// Settings that may change while running (live keys).
    void configure(bool adaptive, std::size_t maxLimit, std::int64_t backoffMaxMs)
    {
        adaptive_ = adaptive;
        max_ = static_cast<double>(std::max<std::size_t>(1, maxLimit));
        limit_ = std::min(limit_, max_);
        backoffMaxMs_ = std::max<std::int64_t>(0, backoffMaxMs);
    }

    /// May a connection be opened now, with `open` busy or connecting of which `connecting` are still connecting?
    bool mayOpen(std::size_t open, std::size_t connecting, std::int64_t nowMs) const
    {
        if (!adaptive_) return static_cast<double>(open) < max_;
        if (failures_ > 0) return connecting == 0 && nowMs >= retryAtMs_ && static_cast<double>(open) < max_;
        return static_cast<double>(open) < std::max(1.0, limit_);
    }
    /// While backing off: when the next attempt may go (else 0).
    std::int64_t retryAtMs() const { return adaptive_ && failures_ > 0 ? retryAtMs_ : 0; }

    /// A request found no connection and waits (the limit is binding).
    void noteWaiting() { waitedInWindow_ = true; }
    /// A client's event became a job for the API (the demand).
    void noteSubmitted() { ++submitted_; }
    /// A fresh connection is up (TCP, and TLS when https): the backoff ends.
    void onConnected() { failures_ = 0; }
    /// A fresh connection failed before any answer byte, or a request timed out.
    void onFailure(std::int64_t nowMs)
    {
        limit_ = std::max(1.0, limit_ / 2);
        const std::int64_t backoff =
            std::min<std::int64_t>(backoffMaxMs_, kFirstBackoffMs << std::min(failures_, 16));
        ++failures_;
        retryAtMs_ = nowMs + backoff;
        resetWindow(nowMs);
    }
    /// Kinds of request whose latencies are judged apart (UpstreamKind's values).
    static constexpr std::size_t kKinds = 3;

    /// An answer to a request of `kind` (< kKinds) came back, `latencyUs` after it went out.
    void onAnswer(std::int64_t latencyUs, std::int64_t nowMs, std::size_t kind = 0)
    {
        if (windowStartMs_ < 0) windowStartMs_ = nowMs; // the first window: what was submitted so far counts
        kind = std::min(kind, kKinds - 1);
        ++answers_[kind];
        latencySumUs_[kind] += std::max<std::int64_t>(0, latencyUs);
        const std::int64_t elapsed = nowMs - windowStartMs_;
        if (elapsed < kWindowMs) return;
        std::uint64_t answers = 0;
        std::int64_t latencySumUs = 0;
        bool calm = true;
        for (std::size_t k = 0; k < kKinds; ++k) {
            if (answers_[k] == 0) continue;
            answers += answers_[k];
            latencySumUs += latencySumUs_[k];
            const double meanUs = static_cast<double>(latencySumUs_[k]) / static_cast<double>(answers_[k]);
            // The base follows a lower mean at once and a higher one by 1/64 per window.
            double& base = baseUs_[k];
            base = base < 0 || meanUs < base ? meanUs : base + (meanUs - base) / 64;
            if (meanUs > 2 * base + 1000) calm = false;
        }
        const double perSecond = static_cast<double>(submitted_) * 1000.0 / static_cast<double>(elapsed);
        const double latencyS = static_cast<double>(latencySumUs) / static_cast<double>(answers) / 1e6;
        const double target = 2 * perSecond * latencyS + kHeadroom;
        if (waitedInWindow_ && calm) // binding: grow towards the target, at most x2
            limit_ = std::min({std::max(target, limit_), 2 * limit_, max_});
        else if (!waitedInWindow_) // not binding: it may only sink
            limit_ = std::min({limit_, std::max({target, 0.75 * limit_, kInitialLimit}), max_});
        // (binding, but latency rose: it stays; failures, not latency, make it shrink)
        limit_ = std::max(1.0, limit_);
        resetWindow(nowMs);
    }

    double limit() const { return adaptive_ ? limit_ : max_; }
    bool backingOff() const { return adaptive_ && failures_ > 0; }

private:
    void resetWindow(std::int64_t nowMs)
    {
        windowStartMs_ = nowMs;
        answers_.fill(0);
        submitted_ = 0;
        latencySumUs_.fill(0);
        waitedInWindow_ = false;
    }

    bool adaptive_ = true;
    double max_;
    double limit_;
    std::int64_t backoffMaxMs_ = 1000;
    int failures_ = 0; ///< consecutive failures of fresh connections
    std::int64_t retryAtMs_ = 0;
    std::int64_t windowStartMs_ = -1;
    std::array<std::uint64_t, kKinds> answers_{};
    std::uint64_t submitted_ = 0;
    std::array<std::int64_t, kKinds> latencySumUs_{};
    bool waitedInWindow_ = false;
    std::array<double, kKinds> baseUs_{-1, -1, -1}; ///< per kind: the lowest window mean latency, forgetting slowly
};

} // namespace ws2api
