#include "console/core/ConnectionsModel.h"

#include "console/core/ManagementClient.h"

#include <QDateTime>
#include <QJsonArray>

#include <algorithm>

namespace ws2api::console {

namespace {
constexpr int kMaxWanted = 4; // pages asked for but not sent: older ones were scrolled past
constexpr int kRefreshPages = 3;
double nowSeconds() { return static_cast<double>(QDateTime::currentMSecsSinceEpoch()) / 1000.0; }
} // namespace

ConnectionsModel::ConnectionsModel(QObject* parent) : QAbstractTableModel(parent)
{
    pumpTimer_.setSingleShot(true);
    pumpTimer_.setInterval(0);
    connect(&pumpTimer_, &QTimer::timeout, this, &ConnectionsModel::pumpRequests);
    filterTimer_.setSingleShot(true);
    filterTimer_.setInterval(300);
    connect(&filterTimer_, &QTimer::timeout, this, &ConnectionsModel::applyFilterNow);
    refreshTimer_.setInterval(2000);
    connect(&refreshTimer_, &QTimer::timeout, this, &ConnectionsModel::refresh);
}

void ConnectionsModel::setClient(ManagementClient* client)
{
    if (client_ == client) return;
    if (client_) client_->disconnect(this);
    client_ = client;
    if (client_) connect(client_, &ManagementClient::online, this, &ConnectionsModel::restart);
    restart();
}

void ConnectionsModel::setPageSize(int rows)
{
    pageSize_ = std::clamp(rows, 1, 1000);
    restart();
}

void ConnectionsModel::setAutoRefreshInterval(int ms)
{
    if (ms <= 0) {
        refreshTimer_.stop();
        return;
    }
    refreshTimer_.start(ms);
}

void ConnectionsModel::setPrefixFilter(const QString& prefix)
{
    pendingPrefix_ = prefix;
    pendingRemote_ = filterTimer_.isActive() ? pendingRemote_ : remote_;
    filterTimer_.start();
}

void ConnectionsModel::setRemoteFilter(const QString& remote)
{
    pendingRemote_ = remote;
    pendingPrefix_ = filterTimer_.isActive() ? pendingPrefix_ : prefix_;
    filterTimer_.start();
}

void ConnectionsModel::applyFilterNow()
{
    filterTimer_.stop();
    if (pendingPrefix_ == prefix_ && pendingRemote_ == remote_) return;
    prefix_ = pendingPrefix_;
    remote_ = pendingRemote_;
    restart();
}

QString ConnectionsModel::sortKey(int column)
{
    switch (column) {
    case ClientIdColumn: return QStringLiteral("id");
    case ConnectedColumn: return QStringLiteral("age");
    case IdleColumn: return QStringLiteral("idle");
    case TrafficColumn: return QStringLiteral("traffic");
    default: return {};
    }
}

QString ConnectionsModel::serverOrder(int column, Qt::SortOrder order)
{
    // The Connected and Idle columns show durations, so "ascending" must list
    // the shortest first. The server as built sorts age/idle "asc" youngest /
    // least idle first, which is that; docs/API.md says the opposite ("asc":
    // oldest / longest idle first). Should the server be changed to match the
    // document, invert the order here for ConnectedColumn and IdleColumn;
    // ConnectionsModelTest::testSortByAge notices either way.
    Q_UNUSED(column)
    return order == Qt::AscendingOrder ? QStringLiteral("asc") : QStringLiteral("desc");
}

void ConnectionsModel::sort(int column, Qt::SortOrder order)
{
    if (sortKey(column).isEmpty()) return; // the server cannot sort by it; keep the current order
    if (column == sortColumn_ && order == sortOrder_) return;
    sortColumn_ = column;
    sortOrder_ = order;
    restart();
}

void ConnectionsModel::restart()
{
    ++generation_;
    beginResetModel();
    cache_.clear();
    wanted_.clear();
    inFlight_.clear();
    rows_ = 0;
    knownTotal_ = -1;
    lastError_.clear();
    endResetModel();
    emit totalChanged(-1);
    emit loadingChanged(false);
    if (client_) requestPage(0); // learns the total
}

void ConnectionsModel::refresh()
{
    if (!client_ || client_->state() != ManagementClient::State::Online) return;
    QList<QPair<qint64, int>> used;
    for (auto it = cache_.cbegin(); it != cache_.cend(); ++it) used.push_back({it.value().lastUsed, it.key()});
    std::sort(used.begin(), used.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    QList<int> pages;
    for (int i = 0; i < used.size() && i < kRefreshPages; ++i) pages.push_front(used[i].second);
    if (pages.isEmpty()) pages.push_back(0);
    for (int p : pages) {
        // A refresh replaces the page in place: it stays on screen until the answer.
        wanted_.removeAll(p);
        wanted_.push_back(p);
        refreshing_.insert(p);
    }
    pumpTimer_.start();
}

void ConnectionsModel::requestPage(int page) const
{
    if (cache_.contains(page) || inFlight_.contains(page)) return;
    wanted_.removeAll(page);
    wanted_.push_back(page);
    while (wanted_.size() > kMaxWanted) wanted_.removeFirst();
    if (!pumpTimer_.isActive()) pumpTimer_.start();
}

void ConnectionsModel::pumpRequests()
{
    if (!client_) return;
    const bool wasLoading = isLoading();
    while (inFlight_.size() < maxInFlight_ && !wanted_.isEmpty()) {
        const int page = wanted_.takeLast(); // the newest wish: where the view is now
        if (inFlight_.contains(page)) continue;
        if (cache_.contains(page) && !refreshing_.contains(page)) continue;
        refreshing_.remove(page);
        ConnectionQuery q;
        q.prefix = prefix_;
        q.remote = remote_;
        q.sort = sortKey(sortColumn_);
        q.order = serverOrder(sortColumn_, sortOrder_);
        q.offset = page * pageSize_;
        q.limit = pageSize_;
        const quint64 gen = generation_;
        inFlight_.insert(page, gen);
        ++requestsSent_;
        client_->fetchConnections(q, this, [this, page, gen](const ApiResult& r) { onPage(page, gen, r); });
    }
    if (isLoading() != wasLoading) emit loadingChanged(isLoading());
}

void ConnectionsModel::onPage(int page, quint64 generation, const ApiResult& r)
{
    if (generation != generation_) return; // a filter/sort/bridge ago
    inFlight_.remove(page);
    if (!r.ok()) {
        lastError_ = r.error;
        emit errorOccurred(r.error);
        if (!isLoading()) emit loadingChanged(false);
        return;
    }
    lastError_.clear();
    const QJsonArray items = r.body.value(QLatin1String("items")).toArray();
    Page p;
    p.items.reserve(items.size());
    for (const QJsonValue& v : items) p.items.push_back(ConnectionInfo::fromJson(v.toObject()));
    largestRowsFetched_ = std::max(largestRowsFetched_, static_cast<int>(p.items.size()));
    p.lastUsed = ++useClock_;
    const int got = static_cast<int>(p.items.size());
    cache_.insert(page, p);
    qint64 total = static_cast<qint64>(r.body.value(QLatin1String("total")).toDouble());
    // A short page ends the list, whatever the total said (clients left
    // between the count and the listing): keeps rows and pages consistent,
    // so a placeholder never asks for a page that cannot fill it.
    if (got < pageSize_) total = static_cast<qint64>(page) * pageSize_ + got;
    setTotal(total);
    evict();
    const int first = page * pageSize_;
    const int last = std::min(first + pageSize_, rows_) - 1;
    if (last >= first && cache_.contains(page))
        emit dataChanged(index(first, 0), index(last, ColumnCount - 1));
    emit pageLoaded(page);
    pumpRequests();
    if (!isLoading()) emit loadingChanged(false);
}

void ConnectionsModel::setTotal(qint64 total)
{
    const int t = static_cast<int>(std::clamp<qint64>(total, 0, 100000000));
    const bool changed = knownTotal_ != total;
    knownTotal_ = total;
    if (t > rows_) {
        beginInsertRows(QModelIndex(), rows_, t - 1);
        rows_ = t;
        endInsertRows();
    } else if (t < rows_) {
        beginRemoveRows(QModelIndex(), t, rows_ - 1);
        rows_ = t;
        for (auto it = cache_.begin(); it != cache_.end();) {
            if (it.key() * pageSize_ >= rows_ && it.key() != 0) it = cache_.erase(it);
            else ++it;
        }
        endRemoveRows();
    }
    if (changed) emit totalChanged(total);
}

void ConnectionsModel::evict()
{
    while (cache_.size() > maxCachedPages_) {
        auto oldest = cache_.begin();
        for (auto it = cache_.begin(); it != cache_.end(); ++it)
            if (it.value().lastUsed < oldest.value().lastUsed) oldest = it;
        cache_.erase(oldest);
    }
}

int ConnectionsModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : rows_; }

int ConnectionsModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

bool ConnectionsModel::connectionAt(int row, ConnectionInfo& out) const
{
    if (row < 0 || row >= rows_) return false;
    auto it = cache_.find(row / pageSize_);
    if (it == cache_.end()) return false;
    const int i = row % pageSize_;
    if (i >= it.value().items.size()) return false;
    out = it.value().items[i];
    return true;
}

QVariant ConnectionsModel::data(const QModelIndex& index, int role) const
{
    if (!index.isValid() || index.row() >= rows_ || index.column() >= ColumnCount) return {};
    const int page = index.row() / pageSize_;
    auto it = cache_.find(page);
    const int i = index.row() % pageSize_;
    if (it == cache_.end() || i >= it.value().items.size()) {
        if (it != cache_.end() && !inFlight_.contains(page)) cache_.erase(it); // the total grew: reload it
        if (role == Qt::DisplayRole || role == LoadedRole || role == ClientIdRole) requestPage(page);
        if (role == LoadedRole) return false;
        if (role == Qt::DisplayRole && index.column() == ClientIdColumn) return QStringLiteral("…");
        return {};
    }
    it.value().lastUsed = ++useClock_;
    const ConnectionInfo& c = it.value().items[i];
    switch (role) {
    case Qt::DisplayRole: return display(c, index.column());
    case Qt::ToolTipRole:
        if (index.column() == ClientIdColumn) return c.clientId;
        if (index.column() == ConnectedColumn)
            return QDateTime::fromMSecsSinceEpoch(static_cast<qint64>(c.connectedAt * 1000)).toString(Qt::ISODate);
        return {};
    case Qt::TextAlignmentRole:
        if (index.column() >= ConnectedColumn && index.column() <= PendingColumn)
            return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
        return {};
    case ClientIdRole: return c.clientId;
    case LoadedRole: return true;
    case SortValueRole: return sortValue(c, index.column());
    default: return {};
    }
}

QVariant ConnectionsModel::display(const ConnectionInfo& c, int column) const
{
    const double now = nowSeconds();
    switch (column) {
    case ClientIdColumn: return c.clientId;
    case RemoteColumn: return c.remote;
    case ConnectedColumn: return formatDuration(now - c.connectedAt);
    case IdleColumn: return formatDuration(now - c.lastActivity);
    case MessagesInColumn: return formatCount(c.messagesIn);
    case MessagesOutColumn: return formatCount(c.messagesOut);
    case TrafficColumn: return formatBytes(c.bytesIn + c.bytesOut);
    case QueuedColumn: return formatBytes(c.queuedBytes);
    case PendingColumn: return QString::number(c.pendingUpstream);
    case SubprotocolColumn: return c.subprotocol;
    default: return {};
    }
}

QVariant ConnectionsModel::sortValue(const ConnectionInfo& c, int column) const
{
    switch (column) {
    case ClientIdColumn: return c.clientId;
    case RemoteColumn: return c.remote;
    case ConnectedColumn: return c.connectedAt;
    case IdleColumn: return c.lastActivity;
    case MessagesInColumn: return c.messagesIn;
    case MessagesOutColumn: return c.messagesOut;
    case TrafficColumn: return c.bytesIn + c.bytesOut;
    case QueuedColumn: return c.queuedBytes;
    case PendingColumn: return c.pendingUpstream;
    case SubprotocolColumn: return c.subprotocol;
    default: return {};
    }
}

QVariant ConnectionsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal) return {};
    if (role == Qt::ToolTipRole) {
        return sortKey(section).isEmpty() ? tr("Not sortable (the server sorts by ClientId, age, idle or traffic)")
                                          : tr("Click to sort on the server");
    }
    if (role != Qt::DisplayRole) return {};
    switch (section) {
    case ClientIdColumn: return tr("ClientId");
    case RemoteColumn: return tr("Remote");
    case ConnectedColumn: return tr("Connected");
    case IdleColumn: return tr("Idle");
    case MessagesInColumn: return tr("Msgs in");
    case MessagesOutColumn: return tr("Msgs out");
    case TrafficColumn: return tr("Traffic");
    case QueuedColumn: return tr("Queued");
    case PendingColumn: return tr("Upstream");
    case SubprotocolColumn: return tr("Subprotocol");
    default: return {};
    }
}

} // namespace ws2api::console
