#pragma once
// The audit log (GET /api/v1/audit), newest first. The first page comes with
// reload(); older entries come a page at a time when the view scrolls to the
// end (canFetchMore/fetchMore, `before` = the oldest id shown).
//
// Thread rules: GUI thread only.
#include "console/core/ApiTypes.h"
#include "console/core/ManagementClient.h"

#include <QAbstractTableModel>
#include <QPointer>

namespace ws2api::console {


class AuditModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { TimeColumn, ActorColumn, ActionColumn, TargetColumn, DetailColumn, ColumnCount };

    explicit AuditModel(QObject* parent = nullptr);

    void setClient(ManagementClient* client);
    void setPageSize(int n) { pageSize_ = std::clamp(n, 1, 1000); }
    /// Starts again from the newest entry.
    void reload();
    const AuditEntry* entry(int row) const { return row >= 0 && row < entries_.size() ? &entries_[row] : nullptr; }
    QString lastError() const { return lastError_; }
    bool isFetching() const { return fetching_; }
    bool atEnd() const { return atEnd_; }

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    bool canFetchMore(const QModelIndex& parent) const override;
    void fetchMore(const QModelIndex& parent) override;

signals:
    void loaded();
    void loadFailed(const QString& reason);

private:
    void fetch(qint64 before);

    QPointer<ManagementClient> client_;
    QVector<AuditEntry> entries_;
    int pageSize_ = 100;
    bool atEnd_ = true;
    bool fetching_ = false;
    quint64 generation_ = 0;
    QString lastError_;
};

} // namespace ws2api::console
