#include "console/core/StatsSeries.h"

#include <algorithm>

namespace ws2api::console {

StatsSeries::StatsSeries(int capacity, QObject* parent) : QObject(parent), capacity_(std::max(capacity, 2)) {}

QVector<RatePoint> StatsSeries::since(double since) const
{
    QVector<RatePoint> out;
    auto it = std::lower_bound(points_.begin(), points_.end(), since,
                               [](const RatePoint& p, double t) { return p.ts < t; });
    out.reserve(static_cast<int>(points_.end() - it));
    for (; it != points_.end(); ++it) out.push_back(*it);
    return out;
}

void StatsSeries::addHistory(const QVector<HistoryPoint>& history)
{
    bool added = false;
    for (const HistoryPoint& h : history) {
        const double res = h.resolution > 0 ? h.resolution : 10;
        RatePoint p;
        p.ts = static_cast<double>(h.ts) + res;
        if (firstLiveTs_ > 0 && p.ts >= firstLiveTs_) continue; // live data is finer
        auto same = std::find_if(points_.begin(), points_.end(), [&](const RatePoint& q) { return q.ts == p.ts; });
        if (same != points_.end()) continue;
        p.connectionsOpen = static_cast<double>(h.connectionsOpen);
        p.connectsPerSec = static_cast<double>(h.connectionsOpened) / res;
        p.disconnectsPerSec = static_cast<double>(h.connectionsClosed) / res;
        p.messagesInPerSec = static_cast<double>(h.messagesIn) / res;
        p.messagesOutPerSec = static_cast<double>(h.messagesOut) / res;
        p.upstreamOkPerSec = static_cast<double>(h.upstreamOk) / res;
        p.upstreamFailedPerSec = static_cast<double>(h.upstreamFailed) / res;
        p.upstreamP50Ms = h.upstreamP50Ms;
        p.upstreamP99Ms = h.upstreamP99Ms;
        p.upstreamQueued = static_cast<double>(h.upstreamQueued);
        insertSorted(p);
        added = true;
    }
    if (added) {
        trim();
        emit reset();
    }
}

void StatsSeries::addLive(const StatsSnapshot& s)
{
    if (!s.valid) return;
    const StatsSnapshot prev = previous_;
    previous_ = s;
    if (!prev.valid) return;
    const double dt = s.ts - prev.ts;
    if (dt <= 0.05) return; // same second twice (a poll and an event): no rate
    if (s.connectionsOpened < prev.connectionsOpened || s.messagesIn < prev.messagesIn
        || s.startedAt != prev.startedAt)
        return; // the bridge restarted: totals start again
    RatePoint p;
    p.ts = s.ts;
    p.connectionsOpen = static_cast<double>(s.connectionsOpen);
    p.connectsPerSec = static_cast<double>(s.connectionsOpened - prev.connectionsOpened) / dt;
    p.disconnectsPerSec = static_cast<double>(s.connectionsClosed - prev.connectionsClosed) / dt;
    p.messagesInPerSec = static_cast<double>(s.messagesIn - prev.messagesIn) / dt;
    p.messagesOutPerSec = static_cast<double>(s.messagesOut - prev.messagesOut) / dt;
    p.upstreamOkPerSec = static_cast<double>(s.upstreamOk - prev.upstreamOk) / dt;
    p.upstreamFailedPerSec = static_cast<double>(s.upstreamFailed - prev.upstreamFailed) / dt;
    p.upstreamP50Ms = s.upstreamP50Ms;
    p.upstreamP99Ms = s.upstreamP99Ms;
    p.upstreamQueued = static_cast<double>(s.upstreamQueued);
    if (firstLiveTs_ <= 0) firstLiveTs_ = p.ts;
    append(p);
}

void StatsSeries::append(const RatePoint& p)
{
    if (firstAppendTs_ <= 0) firstAppendTs_ = p.ts;
    if (!points_.empty() && p.ts <= points_.back().ts) {
        insertSorted(p);
        trim();
        emit reset();
        return;
    }
    points_.push_back(p);
    trim();
    emit appended();
}

void StatsSeries::addEarlier(const QVector<RatePoint>& points)
{
    // Replaces what an earlier call gave (a later bridge's history completes
    // the sums); the appended (live) points stay.
    const double first = firstAppendTs_ > 0 ? firstAppendTs_ : 1e300;
    while (!points_.empty() && points_.front().ts < first) points_.pop_front();
    for (const RatePoint& p : points)
        if (p.ts < first) insertSorted(p);
    trim();
    emit reset();
}

void StatsSeries::clear()
{
    points_.clear();
    previous_ = StatsSnapshot();
    firstLiveTs_ = 0;
    firstAppendTs_ = 0;
    emit reset();
}

void StatsSeries::insertSorted(const RatePoint& p)
{
    auto it = std::upper_bound(points_.begin(), points_.end(), p.ts,
                               [](double t, const RatePoint& q) { return t < q.ts; });
    points_.insert(it, p);
}

void StatsSeries::trim()
{
    while (static_cast<int>(points_.size()) > capacity_) points_.pop_front();
}

} // namespace ws2api::console
