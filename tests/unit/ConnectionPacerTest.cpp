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
/// new requests per second (-1: as many as answered, a steady state), both spread evenly over
/// the window as a stream of requests comes (the last answer, at its end, closes it); returns the
/// window's end.
std::int64_t window(ConnectionPacer& p, std::int64_t t, double perSecond, std::int64_t latencyUs, bool waiting,
                    double submitted = -1)
{
    const std::int64_t ms = ConnectionPacer::kWindowMs;
    const int answers = static_cast<int>(perSecond * ms / 1000.0);
    const int arrivals = static_cast<int>((submitted < 0 ? perSecond : submitted) * ms / 1000.0);
    int a = 0;
    for (int i = 0; i < answers; ++i) {
        const std::int64_t at = t + (i + 1) * ms / answers;
        for (; a < arrivals; ++a) { // the arrivals up to this answer
            const std::int64_t arrivedAt = t + (a + 1) * ms / arrivals;
            if (arrivedAt > at) break;
            p.noteSubmitted(arrivedAt);
            if (waiting) p.noteWaiting(arrivedAt);
        }
        if (waiting) p.noteWaiting(at);
        p.onAnswer(latencyUs, at);
    }
    return t + ms;
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
    const std::int64_t ms = ConnectionPacer::kWindowMs;
    for (std::int64_t u = 0; u <= ms; ++u) { // each kind spread evenly over the window, its ends included
        const std::int64_t at = t + u;
        const int gets = static_cast<int>(m.gets * (u + 1) / (ms + 1) - m.gets * u / (ms + 1));
        const int posts = static_cast<int>(m.posts * (u + 1) / (ms + 1) - m.posts * u / (ms + 1));
        for (int i = 0; i < std::max(gets, posts); ++i) {
            if (i < gets) p.noteSubmitted(at, get);
            if (i < posts) p.noteSubmitted(at, post);
            if (m.waiting) p.noteWaiting(at);
            if (i < gets) p.onAnswer(m.getUs, at, get);
            if (i < posts && m.postsAnswered) p.onAnswer(m.postUs, at, post);
        }
    }
    return t + ms;
}
} // namespace

class ConnectionPacerTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ConnectionPacerTest);
    CPPUNIT_TEST(testStartsAtItsInitialLimitWithinTheMaximum);
    CPPUNIT_TEST(testGoesToLittlesLawAtOnceWhileRequestsWait);
    CPPUNIT_TEST(testABurstAfterAPauseIsMeasuredAtItsOwnRate);
    CPPUNIT_TEST(testABurstRaisesItBeforeItsFirstAnswers);
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

    void testABurstRaisesItBeforeItsFirstAnswers()
    {
        // A burst 10 s after the last one (issue 26): 10,000 POSTs/s against an API whose POSTs
        // take 50 ms. No answer comes for 50 ms, so no window can be judged; the submissions
        // alone show the demand once kEarlyMs have passed: 10,000/s x 50 ms + 4 = 504 (1 x).
        ConnectionPacer p(2048);
        std::int64_t t = window(p, window(p, 0, 400, 50000, false), 400, 50000, false); // the base: 50 ms
        t += 10000;
        double limit = p.limit();
        for (std::int64_t ms = 0; ms < 50; ++ms)
            for (int i = 0; i < 10; ++i) {
                p.noteSubmitted(t + ms);
                const bool rose = p.noteWaiting(t + ms);
                CPPUNIT_ASSERT_EQUAL(rose, p.limit() > limit);
                CPPUNIT_ASSERT(ms >= ConnectionPacer::kEarlyMs || !rose); // not on a few requests' say
                limit = p.limit();
            }
        CPPUNIT_ASSERT_DOUBLES_EQUAL(504.0, p.limit(), 15.0);
        // The first answers judge the window as usual: 2 x the demand.
        t = window(p, t + 50, 10000, 50000, true);
        CPPUNIT_ASSERT_DOUBLES_EQUAL(1004.0, p.limit(), 25.0);

        // Not while the last judged window was slow (the API is slowing down) ...
        ConnectionPacer slow(2048);
        t = window(slow, window(slow, 0, 400, 50000, false), 400, 50000, false);
        for (int w = 0; w < 2; ++w) t = window(slow, t, 400, 200000, true); // 4 x its base: not calm
        const double held = slow.limit();
        for (int i = 0; i < 100; ++i) {
            slow.noteSubmitted(t + 10 + i / 10);
            CPPUNIT_ASSERT(!slow.noteWaiting(t + 10 + i / 10));
        }
        CPPUNIT_ASSERT_EQUAL(held, slow.limit());
        // ... nor after a failure (the slow start back decides) ...
        ConnectionPacer failed(2048);
        t = window(failed, window(failed, 0, 400, 50000, false), 400, 50000, false);
        failed.onFailure(t);
        failed.onConnected();
        for (int i = 0; i < 100; ++i) {
            failed.noteSubmitted(t + 10 + i / 10);
            CPPUNIT_ASSERT(!failed.noteWaiting(t + 10 + i / 10));
        }
        CPPUNIT_ASSERT_EQUAL(ConnectionPacer::kInitialLimit, failed.limit() * 2);
        // A kind never answered yet has no base to multiply by: a fresh bridge's first POSTs, all
        // still out, count one connection each (10 per ms for 10 ms: 100 + 4), GETs at their base.
        ConnectionPacer fresh(2048);
        t = window(fresh, window(fresh, 0, 400, 300, false), 400, 300, false); // GETs (kind 0) answered in 0.3 ms
        t += 10000;
        for (std::int64_t ms = 0; ms < 10; ++ms)
            for (int i = 0; i < 10; ++i) {
                fresh.noteSubmitted(t + ms, 1); // POSTs (kind 1): none answered ever
                fresh.noteWaiting(t + ms);
            }
        CPPUNIT_ASSERT_DOUBLES_EQUAL(104.0, fresh.limit(), 0.5);
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
        // The first POSTs are out, none answered yet, their latency unknown: as they wait, each
        // counts one connection (about 125 + 4; the GETs' own target is 6).
        t = mixedWindow(p, t, {125, 125, 200, 0, true, false});
        CPPUNIT_ASSERT_DOUBLES_EQUAL(129.0, p.limit(), 5.0);
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
        CPPUNIT_ASSERT_DOUBLES_EQUAL(544.0, p.limit(), 2.0); // (the window ends on a GET: a few POSTs fall in the next)
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
        p.noteWaiting(t);
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
