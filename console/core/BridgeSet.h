#pragma once
// The bridges the console watches, and the cluster they form: one
// ManagementClient and one StatsSeries per bridge, plus the cluster's sums.
//
// When a bridge comes online its last `historySeconds` of statistics are
// loaded into its series; its live stats extend it. The cluster's numbers are
// made from the very points the bridges' rows show, never from a sampling of
// their own: currentRates() sums each online bridge's newest point (open
// connections, connects, messages, failures summed; latencies: the worst
// bridge), and the cluster series gets that sum as a point once every bridge
// has a new point since the last one (at the latest 1.5 s after it, so a
// slow bridge does not stop the chart). With one bridge the cluster's points
// are that bridge's points. The bridges' histories are summed into the
// cluster's past.
//
// Thread rules: GUI/owner thread only. Owns its bridges.
#include "console/core/ManagementClient.h"
#include "console/core/StatsSeries.h"

#include <QObject>
#include <QHash>
#include <QTimer>
#include <QVector>

namespace ws2api::console {

class Bridge : public QObject {
    Q_OBJECT
public:
    Bridge(const QString& name, const QString& url, QObject* parent);
    QString name() const { return name_; }
    void setName(const QString& n) { name_ = n; }
    ManagementClient* client() const { return client_; }
    StatsSeries* series() const { return series_; }
    /// Rates from the newest point, if it is at most 5 s old.
    bool latestRates(double now, RatePoint& out) const;

private:
    QString name_;
    ManagementClient* client_;
    StatsSeries* series_;
};

struct ClusterTotals {
    int bridges = 0;
    int online = 0;
    StatsSnapshot sum; ///< counters and gauges summed over online bridges; p50/p99: the worst
};

class BridgeSet : public QObject {
    Q_OBJECT
public:
    explicit BridgeSet(QObject* parent = nullptr);

    void setHistorySeconds(int s) { historySeconds_ = s; }
    /// Adds and starts a bridge (the token may come later: setToken on its client).
    /// `caFile`: see ManagementClient::setCaFile.
    Bridge* addBridge(const QString& name, const QString& url, const QString& token, const QString& caFile = {});
    void removeBridge(int index);
    int count() const { return bridges_.size(); }
    Bridge* at(int i) const { return bridges_.value(i); }
    int indexOf(const Bridge* b) const;
    const QVector<Bridge*>& bridges() const { return bridges_; }

    ClusterTotals totals() const;
    StatsSeries* clusterSeries() const { return clusterSeries_; }
    /// The sum of the online bridges' newest points (each at most 5 s old);
    /// false when there is none, or an online or connecting bridge has none
    /// yet (a sum with a bridge missing would show a dip that never happened).
    bool currentRates(double now, RatePoint& out) const;

signals:
    void bridgeAboutToBeAdded(int index);
    void bridgeAdded(int index);
    void bridgeAboutToBeRemoved(int index);
    void bridgeRemoved(int index);
    /// State or numbers of one bridge changed.
    void bridgeChanged(int index);
    /// The totals changed (with each bridge's stats, about once a second per bridge, and on state changes).
    void totalsChanged();

private:
    void loadHistory(Bridge* b);
    void rebuildClusterHistory();
    void tick();
    /// Appends currentRates() to the cluster series when every bridge has a
    /// new point since the last append (or `force` and anything is new).
    void appendClusterPoint(bool force);

    QVector<Bridge*> bridges_;
    StatsSeries* clusterSeries_;
    QTimer tick_;
    QHash<const Bridge*, double> usedTs_; ///< each bridge's newest point in the last cluster point
    double lastClusterAppend_ = 0;       ///< wall clock of the last cluster point
    int historySeconds_ = 30 * 60;
};

} // namespace ws2api::console
