// The upstream connection pacer (server/upstream/ConnectionPacer): the limit
// follows what the API answers (Little's law with headroom, per kind of
// request), goes to it at once while requests wait and latency is calm (x2 per
// window after failures), sinks slowly when nothing waits, halves on
// failures, and after a failure attempts go one at a time with a doubling
// backoff until one connects.
#include "server/upstream/ConnectionPacer.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>
#include <cstdint>

using namespace ws2api;

namespace {
/// `perSecond` answers of `latencyUs` each over one window starting at `t` (ms), with `submitted`
/// new requests per second (-1: as many as answered, a steady state); returns the window's end.
std::int64_t window(ConnectionPacer& p, std::int64_t t, double perSecond, std::int64_t latencyUs, bool waiting,
                    double submitted = -1)
{
    const std::int64_t end = t + ConnectionPacer::kWindowMs;
    const int answers = static_cast<int>(perSecond * ConnectionPacer::kWindowMs / 1000.0);
    const int arrivals = static_cast<int>((submitted < 0 ? perSecond : submitted) * ConnectionPacer::kWindowMs / 1000.0);
    for (int i = 0; i < arrivals; ++i) p.noteSubmitted(t);
    for (int i = 0; i < answers; ++i) {
        if (waiting) p.noteWaiting();
        p.onAnswer(latencyUs, t + (i + 1) * ConnectionPacer::kWindowMs / answers);
    }
    return end;
}

/// One window of connect GETs and message POSTs: `gets` and `posts` submitted, each GET
/// answered after getUs; the POSTs answered after postUs when postsAnswered (else still out).
struct Mix {
    int gets, posts;
    std::int64_t getUs, postUs;
    bool waiting, postsAnswered;
};
std::int64_t mixedWindow(ConnectionPacer& p, std::int64_t t, const Mix& m)
{
    constexpr std::size_t get = 0, post = 1;
    const int steps = std::max(m.gets, m.posts);
    for (int i = 0; i < steps; ++i) {
        const std::int64_t at = t + (i + 1) * ConnectionPacer::kWindowMs / steps;
        if (i < m.gets) p.noteSubmitted(t, get);
        if (i < m.posts) p.noteSubmitted(t, post);
        if (m.waiting) p.noteWaiting();
        if (i < m.gets) p.onAnswer(m.getUs, at, get);
        if (i < m.posts && m.postsAnswered) p.onAnswer(m.postUs, at, post);
    }
    return t + ConnectionPacer::kWindowMs;
}
} // namespace

class ConnectionPacerTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ConnectionPacerTest);
    CPPUNIT_TEST(testStartsAtItsInitialLimitWithinTheMaximum);
    CPPUNIT_TEST(testGoesToLittlesLawAtOnceWhileRequestsWait);
    CPPUNIT_TEST(testABurstAfterAPauseIsMeasuredAtItsOwnRate);
    CPPUNIT_TEST(testSettlesAtLittlesLawWithHeadroom);
    CPPUNIT_TEST(testAStallDoesNotMakeItGrow);
    CPPUNIT_TEST(testFastGetsThenSlowPostsAreNotASlowdown);
    CPPUNIT_TEST(testSinksSlowlyWhenNothingWaits);
    CPPUNIT_TEST(testFailuresHalveAndBackOffOneAttemptAtATime);
    CPPUNIT_TEST(testNotAdaptiveMeansTheMaximum);
    CPPUNIT_TEST_SUITE_END();

public:
    void testStartsAtItsInitialLimitWithinTheMaximum()
    {
        ConnectionPacer p(2048);
        CPPUNIT_ASSERT_EQUAL(ConnectionPacer::kInitialLimit, p.limit());
        CPPUNIT_ASSERT(p.mayOpen(15, 15, 0));
        CPPUNIT_ASSERT(!p.mayOpen(16, 0, 0));
        ConnectionPacer small(4);
        CPPUNIT_ASSERT_EQUAL(4.0, small.limit());
        CPPUNIT_ASSERT(!small.mayOpen(4, 0, 0));
    }

    void testGoesToLittlesLawAtOnceWhileRequestsWait()
    {
        // A burst against a slow API: 10,000 requests/s of 50 ms need 500 connections. While
        // requests wait and latency stays at its base, one window takes the limit to the target,
        // 2 x 10,000/s x 50 ms + 4 = 1004 (issue 26: doubling from 16 kept thousands queued).
        ConnectionPacer p(2048);
        std::int64_t t = window(p, 0, 10000, 50000, true);
        CPPUNIT_ASSERT_DOUBLES_EQUAL(1004.0, p.limit(), 1.0);
        // It stays there while the demand does.
        for (int w = 0; w < 10; ++w) t = window(p, t, 10000, 50000, true);
        CPPUNIT_ASSERT_DOUBLES_EQUAL(1004.0, p.limit(), 1.0);
        // Never past the loop's share of upstream.max_connections.
        ConnectionPacer capped(300);
        t = window(capped, t, 10000, 50000, true);
        CPPUNIT_ASSERT_EQUAL(300.0, capped.limit());
    }

    void testABurstAfterAPauseIsMeasuredAtItsOwnRate()
    {
        // Quiet: a few answers, then nothing for 8 s. The burst after it (10,000/s of 50 ms) is
        // measured from its first request, not averaged over the 8 quiet seconds (which would
        // make it look like 30 requests a second, and the target 7).
        ConnectionPacer p(2048);
        std::int64_t t = window(p, 0, 400, 50000, false);
        t += 8000;
        t = window(p, t, 10000, 50000, true);
        CPPUNIT_ASSERT_DOUBLES_EQUAL(1004.0, p.limit(), 1.0);
    }

    void testSettlesAtLittlesLawWithHeadroom()
    {
        // A backlog drained by an instant API: 12,000 answers/s of 0.3 ms while 500 new requests a
        // second come in. The demand needs 0.15 connections: the limit stays where it is instead of
        // growing with the backlog.
        ConnectionPacer p(2048);
        std::int64_t t = 0;
        for (int w = 0; w < 20; ++w) t = window(p, t, 12000, 300, true, 500);
        CPPUNIT_ASSERT_EQUAL(ConnectionPacer::kInitialLimit, p.limit());
        // Closed loop (each answer brings the next request): the demand follows the answers, it
        // grows, to 2 x 100,000/s x 0.3 ms + 4 = 64.
        t = window(p, t, 100000, 300, true);
        CPPUNIT_ASSERT_DOUBLES_EQUAL(64.0, p.limit(), 0.5);
        // The API turns slow: answers of 50 ms, 1,000/s. Latency rose, so no growth at first...
        for (int w = 0; w < 20; ++w) t = window(p, t, 1000, 50000, true);
        CPPUNIT_ASSERT_DOUBLES_EQUAL(64.0, p.limit(), 0.5); // (nor shrinking while requests wait)
        // ... until the base has caught up with the new latency (about a second): then
        // Little's law, 2 x 1000 x 0.05 + 4 = 104.
        for (int w = 0; w < 60; ++w) t = window(p, t, 1000, 50000, true);
        CPPUNIT_ASSERT_DOUBLES_EQUAL(104.0, p.limit(), 1.0);
    }

    void testAStallDoesNotMakeItGrow()
    {
        // Requests that waited through a 2 s stall come back together with 2 s latencies:
        // a queue and a huge latency x rate product, but not a reason for more connections.
        ConnectionPacer p(2048);
        std::int64_t t = 0;
        for (int w = 0; w < 4; ++w) t = window(p, t, 3000, 300, false);
        t = window(p, t + 2000, 1280, 2000000, true, 250);
        CPPUNIT_ASSERT_EQUAL(ConnectionPacer::kInitialLimit, p.limit());
        // Fast answers again, the queue drained: nothing to grow for.
        t = window(p, t, 3000, 300, false);
        CPPUNIT_ASSERT_EQUAL(ConnectionPacer::kInitialLimit, p.limit());
    }

    void testFastGetsThenSlowPostsAreNotASlowdown()
    {
        // A ramp: clients connect (connect GETs answered in 0.2 ms), then each sends its first
        // message (POSTs answered in 50 ms) while more connect. The POSTs' latency is that
        // kind's own, not a slowdown of the GETs, and each kind's demand counts at its own
        // latency: 2 x (5,000/s x 0.2 ms + 5,000/s x 50 ms) + 4 = 506.
        ConnectionPacer p(2048);
        std::int64_t t = 0;
        for (int w = 0; w < 4; ++w) t = mixedWindow(p, t, {100, 0, 200, 0, false, true}); // 4,000 GETs/s
        CPPUNIT_ASSERT_EQUAL(ConnectionPacer::kInitialLimit, p.limit()); // nothing waited
        // The first POSTs are out, none answered yet, their latency unknown: GETs alone (target 6).
        t = mixedWindow(p, t, {125, 125, 200, 0, true, false});
        CPPUNIT_ASSERT_EQUAL(ConnectionPacer::kInitialLimit, p.limit());
        for (int w = 0; w < 4; ++w) {
            // 5,000 GETs/s and 5,000 POSTs/s come in; every POST slot is taken, requests wait.
            t = mixedWindow(p, t, {125, 125, 200, 50000, true, true});
            CPPUNIT_ASSERT_DOUBLES_EQUAL(506.0, p.limit(), 1.0);
        }
        // A window with POSTs still out and none answered counts them at their base: no sinking
        // below what they need just because this window's answers were all GETs.
        t = mixedWindow(p, t, {125, 125, 200, 0, false, false});
        CPPUNIT_ASSERT_DOUBLES_EQUAL(506.0, p.limit(), 1.0);
        // GETs rising to 2 ms beside the POSTs (a busy box's connect time) are not a slowdown: the
        // demand grows (10,000 GETs/s), the limit follows, 2 x (10,000 x 2 ms + 5,000 x 50 ms) + 4 = 544.
        t = mixedWindow(p, t, {250, 125, 2000, 50000, true, true});
        CPPUNIT_ASSERT_DOUBLES_EQUAL(544.0, p.limit(), 1.0);
        // The POSTs, which hold the connections, taking 3 x as long is: no growth, though the
        // demand x latency product tripled.
        const double before = p.limit();
        mixedWindow(p, t, {125, 125, 200, 150000, true, true});
        CPPUNIT_ASSERT_EQUAL(before, p.limit());
    }

    void testSinksSlowlyWhenNothingWaits()
    {
        ConnectionPacer p(2048);
        std::int64_t t = 0;
        t = window(p, t, 2000, 50000, true); // 2 x 2,000/s x 50 ms + 4
        CPPUNIT_ASSERT_DOUBLES_EQUAL(204.0, p.limit(), 0.5);
        t = window(p, t, 400, 1000, false); // light load: the target is 4.8, x0.75 at most
        CPPUNIT_ASSERT_DOUBLES_EQUAL(153.0, p.limit(), 0.5);
        for (int w = 0; w < 30; ++w) t = window(p, t, 400, 1000, false);
        CPPUNIT_ASSERT_EQUAL(ConnectionPacer::kInitialLimit, p.limit());
    }

    void testFailuresHalveAndBackOffOneAttemptAtATime()
    {
        ConnectionPacer p(2048);
        p.configure(true, 2048, 1000);
        p.onFailure(1000); // refused
        CPPUNIT_ASSERT_EQUAL(8.0, p.limit());
        CPPUNIT_ASSERT(p.backingOff());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1000 + 25), p.retryAtMs());
        CPPUNIT_ASSERT(!p.mayOpen(0, 0, 1024));
        CPPUNIT_ASSERT(p.mayOpen(0, 0, 1025));
        CPPUNIT_ASSERT(!p.mayOpen(1, 1, 1025)); // one attempt at a time
        CPPUNIT_ASSERT(p.mayOpen(5, 0, 1025));  // busy ones do not count against the attempt
        std::int64_t t = 1025;
        std::int64_t backoff = 25;
        for (int i = 0; i < 8; ++i) {
            p.onFailure(t);
            backoff = std::min<std::int64_t>(backoff * 2, 1000);
            CPPUNIT_ASSERT_EQUAL(t + backoff, p.retryAtMs());
            t += backoff;
        }
        CPPUNIT_ASSERT_EQUAL(1.0, p.limit()); // never below one
        p.onConnected();                      // the API is back
        CPPUNIT_ASSERT(!p.backingOff());
        CPPUNIT_ASSERT(p.mayOpen(0, 3, t));
        CPPUNIT_ASSERT(!p.mayOpen(1, 0, t)); // the limit grows from one, by what the API answers
        p.noteWaiting();
        p.onAnswer(300, t); // the first answer ends the window the failure began: x2 at most
        CPPUNIT_ASSERT_EQUAL(2.0, p.limit());
        // A slow start back: x2 per window towards the target (2 x 20,000/s x 1 ms + 4 = 44) ...
        for (double expected : {4.0, 8.0, 16.0, 32.0}) {
            t = window(p, t, 20000, 1000, true);
            CPPUNIT_ASSERT_EQUAL(expected, p.limit());
        }
        // ... and once it met its target, the target at once again.
        t = window(p, t, 20000, 1000, true);
        CPPUNIT_ASSERT_DOUBLES_EQUAL(44.0, p.limit(), 0.5);
        t = window(p, t, 40000, 1000, true);
        CPPUNIT_ASSERT_DOUBLES_EQUAL(84.0, p.limit(), 0.5);
        // No pause at all with upstream.connect_backoff_ms = 0.
        p.configure(true, 2048, 0);
        p.onFailure(t);
        CPPUNIT_ASSERT(p.mayOpen(0, 0, t));
    }

    void testNotAdaptiveMeansTheMaximum()
    {
        ConnectionPacer p(100);
        p.configure(false, 100, 1000);
        p.onFailure(0);
        CPPUNIT_ASSERT_EQUAL(100.0, p.limit());
        CPPUNIT_ASSERT(p.mayOpen(99, 50, 0));
        CPPUNIT_ASSERT(!p.mayOpen(100, 0, 0));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), p.retryAtMs());
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ConnectionPacerTest);
