#pragma once
// The cluster view's table: one row per bridge (name, URL, health, the
// numbers that matter) and a last row with the cluster's sums.
#include "console/core/BridgeSet.h"

#include <QAbstractTableModel>

namespace ws2api::console {

class ClusterModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column {
        NameColumn,
        HealthColumn,
        ConnectionsColumn,
        ConnectsColumn,
        MessagesInColumn,
        MessagesOutColumn,
        FailuresColumn,
        P99Column,
        VersionColumn,
        UptimeColumn,
        UrlColumn,
        ColumnCount
    };
    enum Roles { HealthRole = Qt::UserRole + 1 }; ///< int: ManagementClient::State; -1 for the totals row

    explicit ClusterModel(BridgeSet* set, QObject* parent = nullptr);

    /// The totals row is the last one; -1 when it is that row.
    int bridgeIndex(int row) const { return row < set_->count() ? row : -1; }

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    QVariant bridgeData(const Bridge* b, int column, int role) const;
    QVariant totalsData(int column, int role) const;

    BridgeSet* set_;
};

} // namespace ws2api::console
