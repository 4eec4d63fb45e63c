#pragma once
// The bridges the console watches, and the cluster they form: one
// ManagementClient and one StatsSeries per bridge, plus the cluster's sums.
//
// When a bridge comes online its last `historySeconds` of statistics are
// loaded into its series; its live stats extend it. Once a second the
// cluster series gets the sum of the bridges' latest rates (open
// connections, connects, messages, failures summed; latencies: the worst
// bridge), and bridges' histories are summed into the cluster's past.
//
// Thread rules: GUI/owner thread only. Owns its bridges.
#include "console/core/ManagementClient.h"
#include "console/core/StatsSeries.h"

#include <QObject>
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
    Bridge* addBridge(const QString& name, const QString& url, const QString& token);
    void removeBridge(int index);
    int count() const { return bridges_.size(); }
    Bridge* at(int i) const { return bridges_.value(i); }
    int indexOf(const Bridge* b) const;
    const QVector<Bridge*>& bridges() const { return bridges_; }

    ClusterTotals totals() const;
    StatsSeries* clusterSeries() const { return clusterSeries_; }

signals:
    void bridgeAboutToBeAdded(int index);
    void bridgeAdded(int index);
    void bridgeAboutToBeRemoved(int index);
    void bridgeRemoved(int index);
    /// State or numbers of one bridge changed.
    void bridgeChanged(int index);
    /// The totals changed (once a second at most, plus on state changes).
    void totalsChanged();

private:
    void loadHistory(Bridge* b);
    void rebuildClusterHistory();
    void tick();

    QVector<Bridge*> bridges_;
    StatsSeries* clusterSeries_;
    QTimer tick_;
    int historySeconds_ = 30 * 60;
};

} // namespace ws2api::console
