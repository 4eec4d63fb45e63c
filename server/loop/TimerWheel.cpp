#include "server/loop/TimerWheel.h"

#include <algorithm>

namespace ws2api {

TimerWheel::TimerWheel(std::int64_t nowMs) : base_(nowMs / kTickMs) {}

void TimerWheel::link(Entry& e, int level, int slot)
{
    Entry*& head = slots_[static_cast<std::size_t>(level)][static_cast<std::size_t>(slot)];
    e.next_ = head;
    if (head) head->pprev_ = &e.next_;
    head = &e;
    e.pprev_ = &head;
    bits_[static_cast<std::size_t>(level)] |= std::uint64_t(1) << slot;
    ++count_;
}

void TimerWheel::unlink(Entry& e)
{
    *e.pprev_ = e.next_;
    if (e.next_) e.next_->pprev_ = e.pprev_;
    e.next_ = nullptr;
    e.pprev_ = nullptr;
    --count_;
}

void TimerWheel::place(Entry& e)
{
    std::int64_t expires = e.expiresTick_;
    if (expires < base_) expires = base_; // due: the next tick processed fires it
    std::int64_t distance = expires - base_;
    for (int level = 0; level < kLevels; ++level) {
        if (distance < (std::int64_t(1) << (kLevelBits * (level + 1)))) {
            link(e, level, static_cast<int>((expires >> (kLevelBits * level)) & (kSlots - 1)));
            return;
        }
    }
    // Beyond the top level: park it at the far end; its owner recomputes when it fires.
    expires = base_ + (std::int64_t(1) << (kLevelBits * kLevels)) - 1;
    e.expiresTick_ = expires;
    link(e, kLevels - 1, static_cast<int>((expires >> (kLevelBits * (kLevels - 1))) & (kSlots - 1)));
}

void TimerWheel::schedule(Entry& e, std::int64_t deadlineMs)
{
    if (e.pprev_) unlink(e);
    // Rounded up: firing at tick t means nowMs >= t * kTickMs >= deadlineMs.
    e.expiresTick_ = deadlineMs <= 0 ? 0 : (deadlineMs + kTickMs - 1) / kTickMs;
    place(e);
}

void TimerWheel::cancel(Entry& e)
{
    if (e.pprev_) unlink(e);
}

void TimerWheel::cascade()
{
    // base_ is a multiple of 64: spread level 1's slot for the next 64 ticks
    // over level 0; when that index is 0 too, level 2's over levels 1 and 0, ...
    for (int level = 1; level < kLevels; ++level) {
        const int index = static_cast<int>((base_ >> (kLevelBits * level)) & (kSlots - 1));
        Entry* list = slots_[static_cast<std::size_t>(level)][static_cast<std::size_t>(index)];
        slots_[static_cast<std::size_t>(level)][static_cast<std::size_t>(index)] = nullptr;
        bits_[static_cast<std::size_t>(level)] &= ~(std::uint64_t(1) << index);
        if (list) list->pprev_ = &list;
        while (list) {
            Entry* e = list;
            unlink(*e);
            place(*e);
        }
        if (index != 0) break;
    }
}

int TimerWheel::msUntilNext(std::int64_t nowMs) const
{
    if (count_ == 0) return -1;
    const std::int64_t nowTick = nowMs / kTickMs;
    std::int64_t nextTick;
    const int index = static_cast<int>(base_ & (kSlots - 1));
    // Level 0 slots from base_'s index up to the wrap hold the ticks base_...;
    // slots below it hold ticks after the wrap (they were due within 64 ticks).
    const std::uint64_t bits = bits_[0];
    const std::uint64_t ahead = bits >> index;
    if (ahead) {
        nextTick = base_ + __builtin_ctzll(ahead);
    } else {
        // Nothing before the wrap: wake there (slots below index are the
        // ticks after it, and the wrap may cascade timers down first). At
        // index 0 base_ is itself a wrap whose cascade has not run yet.
        nextTick = index == 0 ? base_ : (base_ | (kSlots - 1)) + 1;
    }
    // Fires when nowMs reaches nextTick * kTickMs.
    const std::int64_t ms = nextTick * kTickMs - nowMs;
    if (nextTick <= nowTick || ms <= 0) return 0;
    return static_cast<int>(std::min<std::int64_t>(ms, 24LL * 3600 * 1000));
}

} // namespace ws2api
