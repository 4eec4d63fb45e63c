#pragma once
// The proxy between ConnectionsModel and the view. Sorting and filtering are
// the server's job (a local sort would read all 100,000 rows), so this proxy
// forwards them to the source instead of doing them: sort() asks the server for
// the new order, setClientIdPrefix() sets the debounced server-side filter.
// It accepts every row and never reorders, so its mapping stays the identity.
#include <QSortFilterProxyModel>

namespace ws2api::console {

class ConnectionsModel;

class ConnectionsProxyModel : public QSortFilterProxyModel {
    Q_OBJECT
public:
    explicit ConnectionsProxyModel(QObject* parent = nullptr);

    void setConnectionsModel(ConnectionsModel* model);
    ConnectionsModel* connectionsModel() const { return model_; }

    void setClientIdPrefix(const QString& prefix);
    void setRemotePrefix(const QString& prefix);
    void sort(int column, Qt::SortOrder order = Qt::AscendingOrder) override;

protected:
    bool filterAcceptsRow(int, const QModelIndex&) const override { return true; }

private:
    ConnectionsModel* model_ = nullptr;
};

} // namespace ws2api::console
