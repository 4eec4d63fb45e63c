// The loops' timer wheel (server/loop/TimerWheel) against a plain model: every
// timer fires once, never before its deadline and never later than the first
// advance() past its tick; cancel, move and re-arm from the callback; gaps of
// hours between advances; deadlines beyond the top level; and msUntilNext()
// never sleeps past a due timer.
#include "server/loop/TimerWheel.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace ws2api;

namespace {
struct Timed : TimerWheel::Entry {
    int index = 0;
    std::int64_t deadline = -1; ///< model: armed for this (-1 = not armed)
    int fired = 0;
};

std::int64_t tickEnd(std::int64_t deadlineMs)
{
    // The first time advance() fires a timer: its deadline rounded up to a tick.
    const std::int64_t t = TimerWheel::kTickMs;
    return (deadlineMs + t - 1) / t * t;
}
} // namespace

class TimerWheelTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(TimerWheelTest);
    CPPUNIT_TEST(testFiresAtDeadlineNotBefore);
    CPPUNIT_TEST(testCancelAndMove);
    CPPUNIT_TEST(testRearmFromCallback);
    CPPUNIT_TEST(testLongGapAndFarDeadlines);
    CPPUNIT_TEST(testRandomAgainstModel);
    CPPUNIT_TEST(testSleepHint);
    CPPUNIT_TEST_SUITE_END();

public:
    void testFiresAtDeadlineNotBefore()
    {
        const std::int64_t start = 1000000;
        TimerWheel wheel(start);
        Timed a, b, c;
        wheel.schedule(a, start + 100);
        wheel.schedule(b, start + 5000);   // level 1
        wheel.schedule(c, start + 300000); // level 2
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), wheel.size());
        std::vector<std::int64_t> firedAt(3, -1);
        auto fire = [&](TimerWheel::Entry& e, std::int64_t now) {
            Timed& t = static_cast<Timed&>(e);
            CPPUNIT_ASSERT(!t.timerArmed());
            firedAt[static_cast<std::size_t>(&t == &a ? 0 : &t == &b ? 1 : 2)] = now;
        };
        for (std::int64_t now = start; now <= start + 400000; now += 1)
            wheel.advance(now, [&](TimerWheel::Entry& e) { fire(e, now); });
        CPPUNIT_ASSERT_EQUAL(tickEnd(start + 100), firedAt[0]);
        CPPUNIT_ASSERT_EQUAL(tickEnd(start + 5000), firedAt[1]);
        CPPUNIT_ASSERT_EQUAL(tickEnd(start + 300000), firedAt[2]);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), wheel.size());
        CPPUNIT_ASSERT_EQUAL(-1, wheel.msUntilNext(start + 400000));
    }

    void testCancelAndMove()
    {
        const std::int64_t start = 0;
        TimerWheel wheel(start);
        Timed a, b;
        wheel.schedule(a, 200);
        wheel.schedule(b, 200);
        wheel.cancel(a);
        wheel.cancel(a); // twice: nothing
        CPPUNIT_ASSERT(!a.timerArmed());
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), wheel.size());
        wheel.schedule(b, 90000); // moved later, to another level
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), wheel.size());
        int fired = 0;
        wheel.advance(1000, [&](TimerWheel::Entry&) { ++fired; });
        CPPUNIT_ASSERT_EQUAL(0, fired);
        wheel.schedule(b, 1500); // moved earlier
        wheel.advance(1499, [&](TimerWheel::Entry&) { ++fired; });
        CPPUNIT_ASSERT_EQUAL(0, fired);
        wheel.advance(tickEnd(1500), [&](TimerWheel::Entry&) { ++fired; });
        CPPUNIT_ASSERT_EQUAL(1, fired);
        // A deadline in the past fires at the next advance.
        wheel.schedule(a, 10);
        wheel.advance(tickEnd(1500) + TimerWheel::kTickMs,
                      [&](TimerWheel::Entry& e) { CPPUNIT_ASSERT(&e == &a); ++fired; });
        CPPUNIT_ASSERT_EQUAL(2, fired);
    }

    void testRearmFromCallback()
    {
        // What a connection does: on firing, arm again (itself) and cancel another.
        TimerWheel wheel(0);
        Timed self, other;
        // Two timers in one slot: whichever fires first cancels the other
        // (which sits in the slot being fired) and re-arms itself.
        Timed* pair[2] = {&self, &other};
        for (Timed* t : pair) wheel.schedule(*t, 100);
        int fires = 0, firstOfSlot = 0;
        std::int64_t now = 0;
        Timed* winner = nullptr;
        auto fire = [&](TimerWheel::Entry& e) {
            Timed& t = static_cast<Timed&>(e);
            if (!winner) {
                winner = &t;
                ++firstOfSlot;
                wheel.cancel(&t == &self ? other : self);
            }
            CPPUNIT_ASSERT(&t == winner);
            if (++fires < 5) wheel.schedule(t, now + 1000);
        };
        for (now = 0; now <= 10000; now += 7) wheel.advance(now, fire);
        CPPUNIT_ASSERT_EQUAL(5, fires);
        CPPUNIT_ASSERT_EQUAL(1, firstOfSlot);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), wheel.size());
    }

    void testLongGapAndFarDeadlines()
    {
        TimerWheel wheel(0);
        Timed a, b, far;
        wheel.schedule(a, 50);
        wheel.schedule(b, 3LL * 3600 * 1000); // three hours: level 3
        // Beyond the top level (~198 days): parked there, fires early; the owner re-arms.
        const std::int64_t farDeadline = 400LL * 24 * 3600 * 1000;
        wheel.schedule(far, farDeadline);
        std::vector<TimerWheel::Entry*> fired;
        // The loop was busy (or asleep) for an hour: a is late, nothing else fires.
        wheel.advance(3600LL * 1000, [&](TimerWheel::Entry& e) { fired.push_back(&e); });
        CPPUNIT_ASSERT(fired == std::vector<TimerWheel::Entry*>{&a});
        wheel.advance(3LL * 3600 * 1000 - 1, [&](TimerWheel::Entry& e) { fired.push_back(&e); });
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), fired.size());
        wheel.advance(tickEnd(3LL * 3600 * 1000), [&](TimerWheel::Entry& e) { fired.push_back(&e); });
        CPPUNIT_ASSERT(fired == (std::vector<TimerWheel::Entry*>{&a, &b}));
        // Stepping day by day: the far one fires once, after at least ~198 days.
        std::int64_t firedAt = -1;
        for (std::int64_t day = 1; day <= 400 && firedAt < 0; ++day) {
            const std::int64_t now = day * 24 * 3600 * 1000;
            wheel.advance(now, [&](TimerWheel::Entry& e) {
                CPPUNIT_ASSERT(&e == &far);
                firedAt = now;
            });
        }
        CPPUNIT_ASSERT_MESSAGE(std::to_string(firedAt), firedAt >= 190LL * 24 * 3600 * 1000);
        CPPUNIT_ASSERT_MESSAGE(std::to_string(firedAt), firedAt < farDeadline);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), wheel.size());
        // An empty wheel jumps to the present at its next advance and takes a new timer normally.
        wheel.advance(500LL * 24 * 3600 * 1000 - 1, [&](TimerWheel::Entry&) { CPPUNIT_FAIL("empty"); });
        Timed late;
        wheel.schedule(late, 500LL * 24 * 3600 * 1000 + 40);
        int n = 0;
        wheel.advance(500LL * 24 * 3600 * 1000, [&](TimerWheel::Entry&) { ++n; });
        CPPUNIT_ASSERT_EQUAL(0, n);
        wheel.advance(tickEnd(500LL * 24 * 3600 * 1000 + 40), [&](TimerWheel::Entry&) { ++n; });
        CPPUNIT_ASSERT_EQUAL(1, n);
    }

    void testRandomAgainstModel()
    {
        // 2,000 timers, random deadlines from 0 to ~20 minutes, random moves and
        // cancels between advances at random steps; checked against the model.
        std::mt19937_64 rng(20261201);
        const std::int64_t start = 123456789;
        TimerWheel wheel(start);
        std::vector<Timed> timers(2000);
        for (std::size_t i = 0; i < timers.size(); ++i) timers[i].index = static_cast<int>(i);
        auto pick = [&](std::int64_t lo, std::int64_t hi) {
            return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
        };
        std::int64_t now = start, previous = start;
        std::size_t armed = 0, firedTotal = 0;
        for (int round = 0; round < 4000; ++round) {
            for (int k = 0; k < 5; ++k) {
                Timed& t = timers[static_cast<std::size_t>(pick(0, static_cast<std::int64_t>(timers.size()) - 1))];
                if (pick(0, 4) == 0) {
                    if (t.deadline >= 0) --armed;
                    wheel.cancel(t);
                    t.deadline = -1;
                } else {
                    const std::int64_t span = pick(0, 2) == 0 ? 1200000 : pick(0, 1) ? 5000 : 100;
                    if (t.deadline < 0) ++armed;
                    t.deadline = now + pick(1, span + 1);
                    wheel.schedule(t, t.deadline);
                }
            }
            previous = now;
            now += pick(0, 2) == 0 ? pick(0, 3) : pick(1, 400);
            firedTotal += wheel.advance(now, [&](TimerWheel::Entry& e) {
                Timed& t = static_cast<Timed&>(e);
                CPPUNIT_ASSERT_MESSAGE("fired a timer that is not armed", t.deadline >= 0);
                CPPUNIT_ASSERT_MESSAGE("early", now >= t.deadline);
                CPPUNIT_ASSERT_MESSAGE("late: due at an earlier advance", previous < tickEnd(t.deadline));
                t.deadline = -1;
                ++t.fired;
                --armed;
            });
            // Nothing that is due was left behind.
            CPPUNIT_ASSERT_EQUAL(armed, wheel.size());
            for (const Timed& t : timers)
                if (t.deadline >= 0) CPPUNIT_ASSERT_MESSAGE("left behind", tickEnd(t.deadline) > now);
        }
        CPPUNIT_ASSERT_MESSAGE(std::to_string(firedTotal), firedTotal > 5000);
        for (Timed& t : timers) wheel.cancel(t);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), wheel.size());
    }

    void testSleepHint()
    {
        // Sleeping for msUntilNext() and advancing never misses a timer's tick,
        // whatever mix of near and far timers; an empty wheel asks for no wake-up.
        std::mt19937_64 rng(7);
        TimerWheel wheel(5000);
        CPPUNIT_ASSERT_EQUAL(-1, wheel.msUntilNext(5000));
        std::vector<Timed> timers(300);
        std::int64_t now = 5000;
        for (Timed& t : timers) {
            t.deadline = now + std::uniform_int_distribution<std::int64_t>(1, 600000)(rng);
            wheel.schedule(t, t.deadline);
        }
        std::size_t wakeups = 0, fired = 0;
        while (wheel.size() > 0) {
            std::int64_t earliest = std::numeric_limits<std::int64_t>::max();
            for (const Timed& t : timers)
                if (t.timerArmed()) earliest = std::min(earliest, tickEnd(t.deadline));
            const int sleep = wheel.msUntilNext(now);
            CPPUNIT_ASSERT(sleep >= 0);
            CPPUNIT_ASSERT_MESSAGE("oversleeps", now + sleep <= earliest);
            now += sleep;
            ++wakeups;
            fired += wheel.advance(now, [&](TimerWheel::Entry& e) {
                CPPUNIT_ASSERT(now >= static_cast<Timed&>(e).deadline);
                CPPUNIT_ASSERT_EQUAL(tickEnd(static_cast<Timed&>(e).deadline), now);
            });
            CPPUNIT_ASSERT(wakeups < 5000);
        }
        CPPUNIT_ASSERT_EQUAL(timers.size(), fired);
        // At most one wake-up per timer plus one per level-0 wrap (~1 s) of the 10 minutes.
        CPPUNIT_ASSERT_MESSAGE(std::to_string(wakeups), wakeups <= timers.size() + 600000 / (64 * 16) + 2);
        CPPUNIT_ASSERT_EQUAL(-1, wheel.msUntilNext(now));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(TimerWheelTest);
