#include "console/core/ConnectionsProxyModel.h"

#include "console/core/ConnectionsModel.h"

namespace ws2api::console {

ConnectionsProxyModel::ConnectionsProxyModel(QObject* parent) : QSortFilterProxyModel(parent)
{
    setDynamicSortFilter(false);
}

void ConnectionsProxyModel::setConnectionsModel(ConnectionsModel* model)
{
    model_ = model;
    setSourceModel(model);
}

void ConnectionsProxyModel::setClientIdPrefix(const QString& prefix)
{
    if (model_) model_->setPrefixFilter(prefix);
}

void ConnectionsProxyModel::setRemotePrefix(const QString& prefix)
{
    if (model_) model_->setRemoteFilter(prefix);
}

void ConnectionsProxyModel::sort(int column, Qt::SortOrder order)
{
    // Not QSortFilterProxyModel::sort(): that would compare every row locally.
    if (model_) model_->sort(column, order);
}

} // namespace ws2api::console
