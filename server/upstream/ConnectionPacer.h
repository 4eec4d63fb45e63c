#pragma once
// How many connections one loop may have toward the API (busy or still
// connecting), paced by what the API answers rather than by how many requests
// wait (docs/TUNING.md, "After an API outage"). Without it, requests that
// queued during an outage each open a connection the moment the API is back:
// a connect storm against an API at its weakest.
//
// - The limit follows Little's law, per kind of request (connect GET, message
//   POST, DELETE): every window (25 ms of answers) its target is
//   2 × Σ (requests of that kind submitted/s × that kind's mean latency) + 4 —
//   twice the concurrency the demand needs at the latency the API shows, plus a
//   few. Submitted, not answered: a backlog drained after an outage is answered
//   fast, but it is not new demand. A kind submitted in the window but not yet
//   answered counts at its base latency (a ramp's first POSTs, still out).
//   Latency is judged per kind against that kind's base (the lowest window
//   mean, forgetting slowly): an API answers a GET in a fraction of the time it
//   takes for a POST, and a ramp's mix is not an API slowing down. A window is
//   calm while its answers took at most 2 × what they would have at each
//   kind's base, + 1 ms each (weighted by time: GETs of 0.2 ms rising to 2 ms
//   beside POSTs of 50 ms are not a slowdown; the POSTs rising are).
// - While requests waited in the window (the limit was binding) and it was
//   calm, the limit goes to the target at once (issue 26: a burst of 10,000
//   messages/s against a 50 ms API needs its 500 connections now; doubling per
//   window from 16 left thousands of requests queued for 200-400 ms). The
//   target is demand × latency, not the queue's length, so a queue drained by
//   a few fast connections never opens hundreds, and answers that took long
//   (an API that stalled, one that slows down under load) never make it grow.
//   When nothing waited it only sinks towards the target (×0.75 per window at
//   most, not below 16 without failures); connections over it are not closed,
//   they idle out. After a pause (nothing submitted or answered for a window)
//   the window restarts at the next submission, so a burst after a quiet spell
//   is measured at its own rate.
//   Between a window's answers a waiting request may raise it already, once
//   5 ms of the window's submissions are seen: to 1 × their demand at each
//   kind's base latency + 4 (a kind never answered yet: one connection per
//   request), while the last judged window was calm and no failure is being
//   recovered from. Otherwise a burst after a quiet spell waits a whole API
//   latency for its first answers before the limit can move (issue 26).
//   After failures (below) it grows back at most ×2 per window until it meets
//   its target once: a slow start, so an API just back is not handed its
//   whole demand in one window.
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
    /// Submissions seen this long into a window are enough to raise the limit before its answers.
    static constexpr std::int64_t kEarlyMs = 5;

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

    /// A request found no connection and waits (the limit is binding). Between the window's answers
    /// the limit may already rise, once kEarlyMs of submissions show the demand: to the
    /// concurrency they need at each kind's base latency, + kHeadroom (1 x the demand; the window's
    /// answers judge it as usual). A kind never answered yet has no base: each of its requests
    /// in the window counts as one connection (a fresh bridge's first burst of POSTs, all still
    /// out). Only while the last judged window was calm and no failure is being recovered from.
    /// Returns whether it rose.
    bool noteWaiting(std::int64_t nowMs)
    {
        waitedInWindow_ = true;
        if (!adaptive_ || failures_ > 0 || recovering_ || !lastCalm_ || windowStartMs_ < 0) return false;
        const std::int64_t elapsed = nowMs - windowStartMs_;
        if (elapsed < kEarlyMs) return false;
        // Over elapsed + 1 ms: loop milliseconds are whole, and the window's first one counts.
        const double spanMs = static_cast<double>(elapsed + 1);
        double concurrency = 0;
        for (std::size_t k = 0; k < kKinds; ++k)
            concurrency += baseUs_[k] >= 0 ? static_cast<double>(submitted_[k]) * 1000.0 / spanMs * baseUs_[k] / 1e6
                                           : static_cast<double>(submitted_[k]); // never answered yet: all still out
        const double target = std::min(max_, concurrency + kHeadroom);
        if (target <= limit_) return false;
        limit_ = target;
        return true;
    }
    /// A client's event of `kind` (< kKinds) became a job for the API (the demand).
    void noteSubmitted(std::int64_t nowMs, std::size_t kind = 0)
    {
        if (windowStartMs_ >= 0 && nowMs - lastActivityMs_ > kWindowMs) resetWindow(nowMs); // after a pause
        lastActivityMs_ = nowMs;
        ++submitted_[std::min(kind, kKinds - 1)];
    }
    /// A fresh connection is up (TCP, and TLS when https): the backoff ends.
    void onConnected() { failures_ = 0; }
    /// A fresh connection failed before any answer byte, or a request timed out.
    void onFailure(std::int64_t nowMs)
    {
        limit_ = std::max(1.0, limit_ / 2);
        recovering_ = true;
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
        lastActivityMs_ = nowMs;
        kind = std::min(kind, kKinds - 1);
        ++answers_[kind];
        latencySumUs_[kind] += std::max<std::int64_t>(0, latencyUs);
        const std::int64_t elapsed = nowMs - windowStartMs_;
        if (elapsed < kWindowMs) return;
        // Calm: the window's answers took at most 2 x what they would have at each kind's base
        // latency, + 1 ms each. Weighted by time, so a kind that is a sliver of the API's time
        // (connect GETs of 0.2 ms against POSTs of 50 ms) rising by a millisecond under a ramp's
        // load is not a slowdown, while the kind that holds the connections rising is.
        double concurrency = 0; // Little's law: sum over kinds of submitted/s x mean latency
        double tookUs = 0, atBaseUs = 0, answered = 0;
        for (std::size_t k = 0; k < kKinds; ++k) {
            const double perSecond = static_cast<double>(submitted_[k]) * 1000.0 / static_cast<double>(elapsed);
            double& base = baseUs_[k];
            if (answers_[k] == 0) {
                if (base >= 0) concurrency += perSecond * base / 1e6; // still out: at least its usual time
                continue;
            }
            const double meanUs = static_cast<double>(latencySumUs_[k]) / static_cast<double>(answers_[k]);
            // The base follows a lower mean at once and a higher one by 1/64 per window.
            base = base < 0 || meanUs < base ? meanUs : base + (meanUs - base) / 64;
            tookUs += static_cast<double>(latencySumUs_[k]);
            atBaseUs += static_cast<double>(answers_[k]) * base;
            answered += static_cast<double>(answers_[k]);
            concurrency += perSecond * meanUs / 1e6;
        }
        const bool calm = tookUs <= 2 * atBaseUs + 1000 * answered;
        lastCalm_ = calm;
        const double target = 2 * concurrency + kHeadroom;
        if (waitedInWindow_ && calm) { // binding: to the target at once (after failures: x2 per window)
            limit_ = std::min({std::max(target, limit_), recovering_ ? 2 * limit_ : max_, max_});
            if (limit_ >= target) recovering_ = false;
        }
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
        submitted_.fill(0);
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
    std::array<std::uint64_t, kKinds> submitted_{};
    std::int64_t lastActivityMs_ = 0; ///< the last submission or answer (a pause restarts the window)
    std::array<std::int64_t, kKinds> latencySumUs_{};
    bool waitedInWindow_ = false;
    bool lastCalm_ = true;   ///< the last judged window was calm (an early raise needs it)
    bool recovering_ = false; ///< since a failure, until the limit met its target: it grows x2 per window
    std::array<double, kKinds> baseUs_{-1, -1, -1}; ///< per kind: the lowest window mean latency, forgetting slowly
};

} // namespace ws2api
