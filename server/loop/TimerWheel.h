#pragma once
// A hierarchical timer wheel (Varghese & Lauck, scheme 7; the layout of the
// Linux kernel's wheel before 4.8): O(1) to arm, move or cancel a timer, and
// a loop turn costs only the timers that are due, never a pass over all of
// them. Why not a library: the event-loop libraries that have one (libuv,
// libev, libevent) bring their own loop; boost has no wheel.
//
// - Time is in loop milliseconds (EventLoop::nowMs), counted in ticks of
//   kTickMs. A timer never fires before its deadline and at most one tick
//   (plus the loop's own latency) after it.
// - Five levels of 64 slots: level 0 holds the next 64 ticks one per slot,
//   level k timers due within 64^(k+1) ticks, 64^k ticks per slot. When level
//   0 wraps, the next slot of level 1 is spread over level 0 (and so on up):
//   a timer moves down at most four times in its life. Deadlines beyond the
//   top level (about 198 days) are clamped there; owners recompute on firing.
// - Intrusive: the Entry lives in the timed object (a Connection), so arming
//   allocates nothing. An Entry is in at most one slot; arming an armed entry
//   moves it.
// - Sleeping: msUntilNext() is exact while level 0 has timers; otherwise it
//   is the next level-0 wrap (at most 64 ticks, ~1 s), where a cascade may
//   bring timers down. An empty wheel asks for no wake-up at all.
//
// Thread rules: not thread-safe; one wheel per EventLoop, used on its thread.
#include <array>
#include <cstddef>
#include <cstdint>

namespace ws2api {

class TimerWheel {
public:
    static constexpr std::int64_t kTickMs = 16;
    static constexpr int kLevelBits = 6;
    static constexpr int kSlots = 1 << kLevelBits;
    static constexpr int kLevels = 5;

    /// Base class of a timed object: 24 bytes, no virtual functions. The wheel
    /// hands fired entries to the caller of advance(), who knows their type.
    class Entry {
    public:
        Entry() = default;
        Entry(const Entry&) = delete;
        Entry& operator=(const Entry&) = delete;
        bool timerArmed() const { return pprev_ != nullptr; }

    private:
        friend class TimerWheel;
        Entry* next_ = nullptr;
        Entry** pprev_ = nullptr; ///< the pointer that points at this entry (slot head or previous next_)
        std::int64_t expiresTick_ = 0;
    };

    explicit TimerWheel(std::int64_t nowMs);
    TimerWheel(const TimerWheel&) = delete;
    TimerWheel& operator=(const TimerWheel&) = delete;

    /// Arms `e` to fire at deadlineMs (or moves it there). A deadline in the
    /// past fires at the next advance().
    void schedule(Entry& e, std::int64_t deadlineMs);
    /// Disarms `e` (nothing if it is not armed).
    void cancel(Entry& e);

    /// Fires every entry whose deadline is <= nowMs: each is disarmed, then
    /// handed to fire(Entry&), which may arm it (or any other) again. Returns
    /// how many fired.
    template <class F>
    std::size_t advance(std::int64_t nowMs, F&& fire)
    {
        const std::int64_t nowTick = nowMs / kTickMs;
        std::size_t fired = 0;
        while (base_ <= nowTick) {
            if (count_ == 0) { // nothing to cascade or fire: jump
                base_ = nowTick + 1;
                break;
            }
            const int index = static_cast<int>(base_ & (kSlots - 1));
            if (index == 0) cascade();
            if (bits_[0] == 0) {
                // Level 0 is empty up to its wrap: skip to it (a cascade may refill it).
                const std::int64_t wrap = (base_ | (kSlots - 1)) + 1;
                base_ = wrap <= nowTick ? wrap : nowTick + 1;
                continue;
            }
            // Detach the slot into a local list first: entries armed again by
            // fire() go to slots of base_ + 1 or later, never back into this one.
            Entry* due = slots_[0][index];
            slots_[0][index] = nullptr;
            bits_[0] &= ~(std::uint64_t(1) << index);
            if (due) due->pprev_ = &due;
            ++base_;
            while (due) {
                Entry* e = due;
                unlink(*e);
                ++fired;
                fire(*e);
            }
        }
        return fired;
    }

    /// Milliseconds until advance() may have something to fire (0: now; -1: no timers).
    int msUntilNext(std::int64_t nowMs) const;
    /// Armed entries.
    std::size_t size() const { return count_; }

private:
    void link(Entry& e, int level, int slot);
    void unlink(Entry& e);
    void place(Entry& e);
    void cascade();

    std::int64_t base_; ///< the next tick not yet processed
    std::size_t count_ = 0;
    std::array<std::array<Entry*, kSlots>, kLevels> slots_{};
    /// Bit s of bits_[l]: slot s of level l may hold entries (cleared when seen empty).
    std::array<std::uint64_t, kLevels> bits_{};
};

} // namespace ws2api
