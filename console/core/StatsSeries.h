#pragma once
// A bridge's (or the cluster's) recent history as rates per second, for the
// charts: filled from GET /api/v1/stats/history when a bridge comes online
// and extended by the live stats events (one a second) after that.
//
// History points carry deltas per interval (rate = delta / resolution, placed
// at the interval's end); live snapshots carry totals since start (rate =
// difference to the previous snapshot / elapsed time). A counter that goes
// backwards means the bridge restarted: that pair gives no point.
//
// Bounded: at most capacity() points (oldest dropped), kept sorted by time.
#include "console/core/ApiTypes.h"

#include <QObject>
#include <QVector>

#include <deque>

namespace ws2api::console {

struct RatePoint {
    double ts = 0; ///< unix seconds
    double connectionsOpen = 0;
    double connectsPerSec = 0;
    double disconnectsPerSec = 0;
    double messagesInPerSec = 0;
    double messagesOutPerSec = 0;
    double upstreamOkPerSec = 0;
    double upstreamFailedPerSec = 0;
    double upstreamP50Ms = 0;
    double upstreamP99Ms = 0;
    double upstreamQueued = 0;
};

class StatsSeries : public QObject {
    Q_OBJECT
public:
    explicit StatsSeries(int capacity = 4000, QObject* parent = nullptr);

    int capacity() const { return capacity_; }
    int size() const { return static_cast<int>(points_.size()); }
    bool isEmpty() const { return points_.empty(); }
    const RatePoint& at(int i) const { return points_[static_cast<std::size_t>(i)]; }
    const RatePoint& last() const { return points_.back(); }
    /// Points with ts >= since (a copy, oldest first).
    QVector<RatePoint> since(double since) const;

    /// Merges history points (any order); points already covered by live data are skipped.
    void addHistory(const QVector<HistoryPoint>& history);
    /// One live snapshot (needs the previous one to give a rate).
    void addLive(const StatsSnapshot& s);
    /// Adds a ready point at the end (the cluster sum).
    void append(const RatePoint& p);
    /// Sets the points before the first append()ed one (the cluster's
    /// history, summed from the bridges' histories; each call replaces the last).
    void addEarlier(const QVector<RatePoint>& points);
    void clear();

signals:
    /// Points were added at the end (the charts scroll).
    void appended();
    /// Points were inserted in the past or removed: redraw everything.
    void reset();

private:
    void insertSorted(const RatePoint& p);
    void trim();

    int capacity_;
    std::deque<RatePoint> points_;
    StatsSnapshot previous_;
    double firstLiveTs_ = 0;
    double firstAppendTs_ = 0; ///< ts of the first append(): addEarlier() fills before it
};

} // namespace ws2api::console
