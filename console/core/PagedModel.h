#pragma once
// A table filled page by page from a management API list (offset/limit with
// a `total`), for lists that may be long: the groups of a bridge, the members
// of a group. Rows are fetched as the view scrolls to the end (Qt's
// canFetchMore()/fetchMore()), one request at a time; nothing is fetched
// whole. refresh() (and the auto-refresh timer) re-reads the rows loaded so
// far, up to 1000 from the top, in place. A restart (new client, new filter)
// starts a new generation: answers of the previous one are dropped.
//
// Subclasses say which call to make and how to read one row from the answer.
//
// Thread rules: GUI thread only.
#include "console/core/ManagementClient.h"

#include <QAbstractTableModel>
#include <QPointer>
#include <QStringList>
#include <QTimer>
#include <QVector>

namespace ws2api::console {

class PagedModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Roles { KeyRole = Qt::UserRole + 1 }; ///< the row's first cell (its name)

    explicit PagedModel(QObject* parent = nullptr);

    void setClient(ManagementClient* client);
    ManagementClient* client() const { return client_; }
    void setPageSize(int rows); ///< 1..1000, default 200
    int pageSize() const { return pageSize_; }
    /// 0 disables the automatic refresh (the views run it while shown).
    void setAutoRefreshInterval(int ms);

    /// Re-reads the loaded rows (at most the first 1000) and the total.
    void refresh();

    /// The server's total (-1 before the first answer); rowCount() is what is loaded.
    qint64 total() const { return total_; }
    bool isLoading() const { return inFlight_; }
    QString lastError() const { return lastError_; }
    QStringList rowAt(int row) const { return rows_.value(row); }
    /// The row whose first cell is `key`, -1 when it is not loaded.
    int rowOf(const QString& key) const;
    int requestsSent() const { return requestsSent_; }
    int largestRowsFetched() const { return largestRowsFetched_; }

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    bool canFetchMore(const QModelIndex& parent) const override;
    void fetchMore(const QModelIndex& parent) override;

signals:
    void totalChanged(qint64 total);
    /// An answer was applied (tests and views wait for it).
    void pageLoaded();
    void errorOccurred(const QString& message);

protected:
    /// Drops the rows and fetches the first page again (when there is something to fetch).
    void restart();
    /// Whether a request can be made now (a client, and whatever the subclass needs).
    virtual bool ready() const { return client_ != nullptr; }
    virtual void request(int offset, int limit, QObject* context, ManagementClient::Callback cb) = 0;
    /// The answer's rows, each as its cells' text (the first cell is the row's key).
    virtual QVector<QStringList> parse(const QJsonObject& body) const = 0;
    virtual bool isNumeric(int /*column*/) const { return false; }

    QPointer<ManagementClient> client_;

private:
    void fetch(int offset, int limit, bool isRefresh);
    void onAnswer(quint64 generation, int offset, int limit, bool isRefresh, const ApiResult& r);
    void setTotal(qint64 total);

    QVector<QStringList> rows_;
    qint64 total_ = -1;
    int pageSize_ = 200;
    quint64 generation_ = 0;
    bool inFlight_ = false;
    bool refreshPending_ = false;
    QTimer refreshTimer_;
    QString lastError_;
    int requestsSent_ = 0;
    int largestRowsFetched_ = 0;
};

} // namespace ws2api::console
