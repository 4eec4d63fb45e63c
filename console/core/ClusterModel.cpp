#include "console/core/ClusterModel.h"

#include <QDateTime>

namespace ws2api::console {

namespace {
QString rate(double v) { return v < 10 ? QString::number(v, 'f', 1) : formatCount(static_cast<qint64>(v + 0.5)); }
} // namespace

ClusterModel::ClusterModel(BridgeSet* set, QObject* parent) : QAbstractTableModel(parent), set_(set)
{
    connect(set_, &BridgeSet::bridgeAboutToBeAdded, this, [this](int i) { beginInsertRows(QModelIndex(), i, i); });
    connect(set_, &BridgeSet::bridgeAdded, this, [this](int) { endInsertRows(); });
    connect(set_, &BridgeSet::bridgeAboutToBeRemoved, this, [this](int i) { beginRemoveRows(QModelIndex(), i, i); });
    connect(set_, &BridgeSet::bridgeRemoved, this, [this](int) { endRemoveRows(); });
    connect(set_, &BridgeSet::bridgeChanged, this, [this](int i) {
        if (i >= 0) emit dataChanged(index(i, 0), index(i, ColumnCount - 1));
    });
    connect(set_, &BridgeSet::totalsChanged, this, [this] {
        const int last = rowCount() - 1;
        emit dataChanged(index(last, 0), index(last, ColumnCount - 1));
    });
}

int ClusterModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : set_->count() + 1; }

int ClusterModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant ClusterModel::data(const QModelIndex& index, int role) const
{
    if (!index.isValid() || index.row() >= rowCount()) return {};
    const int b = bridgeIndex(index.row());
    if (role == Qt::TextAlignmentRole) {
        if (index.column() >= ConnectionsColumn && index.column() <= P99Column)
            return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
        return {};
    }
    return b < 0 ? totalsData(index.column(), role) : bridgeData(set_->at(b), index.column(), role);
}

QVariant ClusterModel::bridgeData(const Bridge* b, int column, int role) const
{
    const ManagementClient* c = b->client();
    if (role == HealthRole) return static_cast<int>(c->state());
    if (role == Qt::ToolTipRole && column == HealthColumn) return c->lastError();
    if (role != Qt::DisplayRole) return {};
    const bool online = c->state() == ManagementClient::State::Online;
    const StatsSnapshot& s = c->lastStats();
    RatePoint p;
    const bool rates = b->latestRates(static_cast<double>(QDateTime::currentMSecsSinceEpoch()) / 1000.0, p);
    switch (column) {
    case NameColumn: return b->name();
    case UrlColumn: return c->baseUrl().toString();
    case HealthColumn: {
        QString h = ManagementClient::stateName(c->state());
        if (online && !c->streaming()) h += tr(" (polling)");
        if (online && !s.storeOk) h += tr(", store failing");
        return h;
    }
    case ConnectionsColumn: return online ? formatCount(s.connectionsOpen) : QString();
    case ConnectsColumn: return rates ? rate(p.connectsPerSec) : QString();
    case MessagesInColumn: return rates ? rate(p.messagesInPerSec) : QString();
    case MessagesOutColumn: return rates ? rate(p.messagesOutPerSec) : QString();
    case FailuresColumn: return rates ? rate(p.upstreamFailedPerSec) : QString();
    case P99Column: return online ? QString::number(s.upstreamP99Ms, 'f', 1) : QString();
    case VersionColumn: return s.version;
    case UptimeColumn: return online ? formatDuration(static_cast<double>(s.uptimeS)) : QString();
    default: return {};
    }
}

QVariant ClusterModel::totalsData(int column, int role) const
{
    if (role == HealthRole) return -1;
    if (role != Qt::DisplayRole) return {};
    const ClusterTotals t = set_->totals();
    // The sum of the points the bridge rows show (not the cluster chart's
    // last point, which may be a round behind while a bridge is late).
    RatePoint p;
    const bool rates = set_->currentRates(static_cast<double>(QDateTime::currentMSecsSinceEpoch()) / 1000.0, p);
    switch (column) {
    case NameColumn: return tr("Cluster");
    case HealthColumn: return tr("%1 of %2 online").arg(t.online).arg(t.bridges);
    case ConnectionsColumn: return formatCount(t.sum.connectionsOpen);
    case ConnectsColumn: return rates ? rate(p.connectsPerSec) : QString();
    case MessagesInColumn: return rates ? rate(p.messagesInPerSec) : QString();
    case MessagesOutColumn: return rates ? rate(p.messagesOutPerSec) : QString();
    case FailuresColumn: return rates ? rate(p.upstreamFailedPerSec) : QString();
    case P99Column: return t.online ? QString::number(t.sum.upstreamP99Ms, 'f', 1) : QString();
    default: return {};
    }
}

QVariant ClusterModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal) return {};
    if (role == Qt::ToolTipRole && section == P99Column) return tr("Upstream latency, 99th percentile over 10 s (cluster: the worst bridge)");
    if (role != Qt::DisplayRole) return {};
    switch (section) {
    case NameColumn: return tr("Bridge");
    case HealthColumn: return tr("Health");
    case ConnectionsColumn: return tr("Connections");
    case ConnectsColumn: return tr("Connects/s");
    case MessagesInColumn: return tr("Msgs in/s");
    case MessagesOutColumn: return tr("Msgs out/s");
    case FailuresColumn: return tr("Failures/s");
    case P99Column: return tr("p99 ms");
    case VersionColumn: return tr("Version");
    case UptimeColumn: return tr("Uptime");
    case UrlColumn: return tr("URL");
    default: return {};
    }
}

} // namespace ws2api::console
