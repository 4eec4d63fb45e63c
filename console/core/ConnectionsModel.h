#pragma once
// The live connections of one bridge as a table that stays responsive with
// 100,000 clients: nothing is fetched whole. The row count is the server's
// `total` for the current filter; rows come in pages (GET
// /api/v1/connections?offset=&limit=) only when a view asks for them, and at
// most `maxCachedPages` pages are kept (least recently used dropped). A row
// whose page is not here yet shows a placeholder and is filled by dataChanged
// when the page arrives.
//
// Filtering (ClientId prefix, remote address prefix) and sorting happen on the
// server: setPrefixFilter()/setRemoteFilter() are debounced (typing does not
// send a request per key), sort() maps the column to the server's sort key.
// A filter or sort change starts a new "generation": answers of the previous
// one are dropped.
//
// While a view shows it, refresh() (called by the auto-refresh timer, every
// 2 s by default) re-reads the total and the most recently used pages.
//
// Thread rules: GUI thread only.
#include "console/core/ApiTypes.h"
#include "console/core/ManagementClient.h"

#include <QAbstractTableModel>
#include <QElapsedTimer>
#include <QHash>
#include <QSet>
#include <QPointer>
#include <QTimer>

namespace ws2api::console {


class ConnectionsModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column {
        ClientIdColumn,
        RemoteColumn,
        ConnectedColumn, ///< age
        IdleColumn,
        MessagesInColumn,
        MessagesOutColumn,
        TrafficColumn, ///< bytes in + out
        QueuedColumn,
        PendingColumn,
        SubprotocolColumn,
        ColumnCount
    };
    enum Roles {
        ClientIdRole = Qt::UserRole + 1, ///< the row's ClientId (empty while loading)
        LoadedRole,                      ///< bool: the row's page is here
        SortValueRole,                   ///< the raw number of the cell
    };

    explicit ConnectionsModel(QObject* parent = nullptr);

    /// The bridge to show (nullptr: empty). Starts a new generation.
    void setClient(ManagementClient* client);
    ManagementClient* client() const { return client_; }

    void setPageSize(int rows);                 ///< 1..1000, default 200
    int pageSize() const { return pageSize_; }
    void setMaxCachedPages(int pages) { maxCachedPages_ = std::max(pages, 2); }
    void setFilterDelay(int ms) { filterTimer_.setInterval(ms); }
    /// 0 disables the automatic refresh.
    void setAutoRefreshInterval(int ms);

    void setPrefixFilter(const QString& prefix);
    void setRemoteFilter(const QString& remote);
    QString prefixFilter() const { return prefix_; }
    /// Sends a pending debounced filter now.
    void applyFilterNow();

    /// Maps a column to the server's sort key; empty when the server cannot sort by it.
    static QString sortKey(int column);
    /// The server's `order` for a column shown in a Qt order.
    static QString serverOrder(int column, Qt::SortOrder order);
    void sort(int column, Qt::SortOrder order = Qt::AscendingOrder) override;
    int sortColumn() const { return sortColumn_; }
    Qt::SortOrder sortOrder() const { return sortOrder_; }

    /// Re-reads the total and the most recently used pages.
    void refresh();

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    /// The row's connection, when its page is here.
    bool connectionAt(int row, ConnectionInfo& out) const;
    /// Total matching the filter, as last reported by the server (-1 before the first answer).
    qint64 total() const { return knownTotal_; }
    bool isLoading() const { return !inFlight_.isEmpty(); }
    QString lastError() const { return lastError_; }

    // Introspection for tests and the status line.
    int requestsSent() const { return requestsSent_; }
    int cachedPages() const { return cache_.size(); }
    int largestRowsFetched() const { return largestRowsFetched_; }

signals:
    void totalChanged(qint64 total);
    void loadingChanged(bool loading);
    void errorOccurred(const QString& message);
    /// A page arrived (tests wait for it).
    void pageLoaded(int page);

private:
    struct Page {
        QVector<ConnectionInfo> items;
        qint64 lastUsed = 0;
    };

    void restart();
    void requestPage(int page) const;
    void pumpRequests();
    void onPage(int page, quint64 generation, const ApiResult& r);
    void setTotal(qint64 total);
    void evict();
    QVariant display(const ConnectionInfo& c, int column) const;
    QVariant sortValue(const ConnectionInfo& c, int column) const;

    QPointer<ManagementClient> client_;
    int pageSize_ = 200;
    int maxCachedPages_ = 40;
    int maxInFlight_ = 2;
    QString prefix_;
    QString remote_;
    QString pendingPrefix_;
    QString pendingRemote_;
    int sortColumn_ = ClientIdColumn;
    Qt::SortOrder sortOrder_ = Qt::AscendingOrder;
    quint64 generation_ = 0;
    int rows_ = 0;            ///< rows announced to views
    qint64 knownTotal_ = -1;  ///< the server's last total
    mutable QHash<int, Page> cache_;
    mutable QList<int> wanted_; ///< pages views asked for, newest last
    QHash<int, quint64> inFlight_; ///< page -> generation of the request
    QSet<int> refreshing_;       ///< cached pages to send again (refresh)
    mutable qint64 useClock_ = 0;
    mutable QTimer pumpTimer_;
    QTimer filterTimer_;
    QTimer refreshTimer_;
    QString lastError_;
    int requestsSent_ = 0;
    int largestRowsFetched_ = 0;
};

} // namespace ws2api::console
