#include "console/core/BridgeSet.h"

#include <QDateTime>
#include <QJsonArray>

#include <algorithm>
#include <cmath>
#include <map>

namespace ws2api::console {

namespace {
double nowSeconds() { return static_cast<double>(QDateTime::currentMSecsSinceEpoch()) / 1000.0; }
} // namespace

Bridge::Bridge(const QString& name, const QString& url, QObject* parent)
    : QObject(parent), name_(name), client_(new ManagementClient(url, this)), series_(new StatsSeries(4000, this))
{
}

bool Bridge::latestRates(double now, RatePoint& out) const
{
    if (series_->isEmpty() || client_->state() != ManagementClient::State::Online) return false;
    const RatePoint& p = series_->last();
    if (now - p.ts > 5) return false;
    out = p;
    return true;
}

BridgeSet::BridgeSet(QObject* parent) : QObject(parent), clusterSeries_(new StatsSeries(4000, this))
{
    tick_.setInterval(1000);
    connect(&tick_, &QTimer::timeout, this, &BridgeSet::tick);
    tick_.start();
}

Bridge* BridgeSet::addBridge(const QString& name, const QString& url, const QString& token, const QString& caFile)
{
    auto* b = new Bridge(name, url, this);
    ManagementClient* c = b->client();
    c->setToken(token);
    c->setCaFile(caFile);
    connect(c, &ManagementClient::stateChanged, this, [this, b] {
        emit bridgeChanged(indexOf(b));
        emit totalsChanged();
    });
    connect(c, &ManagementClient::streamingChanged, this, [this, b] { emit bridgeChanged(indexOf(b)); });
    connect(c, &ManagementClient::online, this, [this, b] { loadHistory(b); });
    connect(c, &ManagementClient::statsReceived, this, [this, b](const StatsSnapshot& s) {
        b->series()->addLive(s);
        appendClusterPoint(false);
        emit bridgeChanged(indexOf(b));
        emit totalsChanged(); // the Cluster row sums the point this bridge's row now shows
    });
    emit bridgeAboutToBeAdded(bridges_.size());
    bridges_.push_back(b);
    emit bridgeAdded(bridges_.size() - 1);
    c->start();
    return b;
}

void BridgeSet::removeBridge(int index)
{
    if (index < 0 || index >= bridges_.size()) return;
    emit bridgeAboutToBeRemoved(index);
    Bridge* b = bridges_.takeAt(index);
    usedTs_.remove(b);
    b->client()->stop();
    b->disconnect(this);
    b->client()->disconnect(this);
    b->deleteLater();
    emit bridgeRemoved(index);
    emit totalsChanged();
}

int BridgeSet::indexOf(const Bridge* b) const { return bridges_.indexOf(const_cast<Bridge*>(b)); }

void BridgeSet::loadHistory(Bridge* b)
{
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    b->client()->fetchHistory(now - historySeconds_, now, 0, b, [this, b](const ApiResult& r) {
        if (!r.ok()) return; // no history (store down, older server): the charts fill live
        QVector<HistoryPoint> points;
        const QJsonArray a = r.body.value(QLatin1String("points")).toArray();
        points.reserve(a.size());
        for (const QJsonValue& v : a) points.push_back(HistoryPoint::fromJson(v.toObject()));
        b->series()->addHistory(points);
        rebuildClusterHistory();
    });
}

void BridgeSet::rebuildClusterHistory()
{
    // Bridges write their rows on their own clocks and intervals: average
    // each bridge's points per 10 s bucket, then sum the bridges.
    std::map<qint64, RatePoint> buckets;
    for (Bridge* b : bridges_) {
        StatsSeries* s = b->series();
        std::map<qint64, std::pair<RatePoint, int>> mine;
        for (int i = 0; i < s->size(); ++i) {
            const RatePoint& p = s->at(i);
            auto& [acc, n] = mine[static_cast<qint64>(std::floor(p.ts / 10.0)) * 10];
            ++n;
            acc.connectionsOpen += p.connectionsOpen;
            acc.connectsPerSec += p.connectsPerSec;
            acc.disconnectsPerSec += p.disconnectsPerSec;
            acc.messagesInPerSec += p.messagesInPerSec;
            acc.messagesOutPerSec += p.messagesOutPerSec;
            acc.upstreamOkPerSec += p.upstreamOkPerSec;
            acc.upstreamFailedPerSec += p.upstreamFailedPerSec;
            acc.upstreamQueued += p.upstreamQueued;
            acc.upstreamP50Ms = std::max(acc.upstreamP50Ms, p.upstreamP50Ms);
            acc.upstreamP99Ms = std::max(acc.upstreamP99Ms, p.upstreamP99Ms);
        }
        for (const auto& [key, accN] : mine) {
            const double n = accN.second;
            const RatePoint& p = accN.first;
            RatePoint& sum = buckets[key];
            sum.ts = static_cast<double>(key);
            sum.connectionsOpen += p.connectionsOpen / n;
            sum.connectsPerSec += p.connectsPerSec / n;
            sum.disconnectsPerSec += p.disconnectsPerSec / n;
            sum.messagesInPerSec += p.messagesInPerSec / n;
            sum.messagesOutPerSec += p.messagesOutPerSec / n;
            sum.upstreamOkPerSec += p.upstreamOkPerSec / n;
            sum.upstreamFailedPerSec += p.upstreamFailedPerSec / n;
            sum.upstreamQueued += p.upstreamQueued / n;
            sum.upstreamP50Ms = std::max(sum.upstreamP50Ms, p.upstreamP50Ms);
            sum.upstreamP99Ms = std::max(sum.upstreamP99Ms, p.upstreamP99Ms);
        }
    }
    QVector<RatePoint> points;
    points.reserve(static_cast<int>(buckets.size()));
    for (const auto& kv : buckets) points.push_back(kv.second);
    // Only whole buckets before the cluster's live points are taken.
    clusterSeries_->addEarlier(points);
}

bool BridgeSet::currentRates(double now, RatePoint& out) const
{
    RatePoint sum;
    int n = 0;
    int expected = 0; // online bridges, and those still making their first contact
    for (Bridge* b : bridges_) {
        const auto st = b->client()->state();
        expected += st == ManagementClient::State::Online || st == ManagementClient::State::Connecting;
        RatePoint p;
        if (!b->latestRates(now, p)) continue;
        ++n;
        sum.ts = std::max(sum.ts, p.ts);
        sum.connectionsOpen += p.connectionsOpen;
        sum.connectsPerSec += p.connectsPerSec;
        sum.disconnectsPerSec += p.disconnectsPerSec;
        sum.messagesInPerSec += p.messagesInPerSec;
        sum.messagesOutPerSec += p.messagesOutPerSec;
        sum.upstreamOkPerSec += p.upstreamOkPerSec;
        sum.upstreamFailedPerSec += p.upstreamFailedPerSec;
        sum.upstreamQueued += p.upstreamQueued;
        sum.upstreamP50Ms = std::max(sum.upstreamP50Ms, p.upstreamP50Ms);
        sum.upstreamP99Ms = std::max(sum.upstreamP99Ms, p.upstreamP99Ms);
    }
    if (n == 0 || n != expected) return false;
    out = sum;
    return true;
}

void BridgeSet::appendClusterPoint(bool force)
{
    const double now = nowSeconds();
    RatePoint sum;
    if (!currentRates(now, sum)) return;
    bool allNew = true, anyNew = false;
    for (Bridge* b : bridges_) {
        RatePoint p;
        if (!b->latestRates(now, p)) continue;
        const bool fresh = p.ts > usedTs_.value(b, 0);
        allNew = allNew && fresh;
        anyNew = anyNew || fresh;
    }
    if (!(allNew || (force && anyNew))) return;
    // The point carries the newest bridge sample's time: with one bridge,
    // the cluster's point is that bridge's point.
    if (!clusterSeries_->isEmpty() && sum.ts <= clusterSeries_->last().ts) return;
    for (Bridge* b : bridges_) {
        RatePoint p;
        if (b->latestRates(now, p)) usedTs_[b] = p.ts;
    }
    lastClusterAppend_ = now;
    clusterSeries_->append(sum);
}

void BridgeSet::tick()
{
    // A bridge that is late with its stats does not hold the chart back for long.
    if (nowSeconds() - lastClusterAppend_ > 1.5) appendClusterPoint(true);
    emit totalsChanged();
}

ClusterTotals BridgeSet::totals() const
{
    ClusterTotals t;
    t.bridges = bridges_.size();
    for (Bridge* b : bridges_) {
        if (b->client()->state() != ManagementClient::State::Online) continue;
        const StatsSnapshot& s = b->client()->lastStats();
        if (!s.valid) continue;
        ++t.online;
        StatsSnapshot& x = t.sum;
        x.valid = true;
        x.connectionsOpen += s.connectionsOpen;
        x.connectionsMax += s.connectionsMax;
        x.connectionsOpened += s.connectionsOpened;
        x.connectionsClosed += s.connectionsClosed;
        x.messagesIn += s.messagesIn;
        x.messagesOut += s.messagesOut;
        x.pushes += s.pushes;
        x.pushesFailed += s.pushesFailed;
        x.upstreamOk += s.upstreamOk;
        x.upstreamFailed += s.upstreamFailed;
        x.upstreamQueued += s.upstreamQueued;
        x.authFailures += s.authFailures;
        x.storeErrors += s.storeErrors;
        x.storeOk = x.storeOk && s.storeOk;
        x.upstreamP50Ms = std::max(x.upstreamP50Ms, s.upstreamP50Ms);
        x.upstreamP99Ms = std::max(x.upstreamP99Ms, s.upstreamP99Ms);
        x.uptimeS = t.online == 1 ? s.uptimeS : std::min(x.uptimeS, s.uptimeS);
    }
    return t;
}

} // namespace ws2api::console
