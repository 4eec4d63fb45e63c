#include "console/core/GroupsModel.h"

#include <QJsonArray>

namespace ws2api::console {

GroupsModel::GroupsModel(QObject* parent) : PagedModel(parent)
{
    filterTimer_.setSingleShot(true);
    filterTimer_.setInterval(300);
    connect(&filterTimer_, &QTimer::timeout, this, &GroupsModel::applyFilterNow);
}

void GroupsModel::setPrefixFilter(const QString& prefix)
{
    pendingPrefix_ = prefix;
    filterTimer_.start();
}

void GroupsModel::applyFilterNow()
{
    filterTimer_.stop();
    if (pendingPrefix_ == prefix_) return;
    prefix_ = pendingPrefix_;
    restart();
}

int GroupsModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant GroupsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case GroupColumn: return tr("Group");
    case MembersColumn: return tr("Members");
    default: return {};
    }
}

void GroupsModel::request(int offset, int limit, QObject* context, ManagementClient::Callback cb)
{
    client_->fetchGroups(prefix_, offset, limit, context, std::move(cb));
}

QVector<QStringList> GroupsModel::parse(const QJsonObject& body) const
{
    QVector<QStringList> rows;
    const QJsonArray items = body.value(QLatin1String("items")).toArray();
    rows.reserve(items.size());
    for (const QJsonValue& v : items) {
        const GroupInfo g = GroupInfo::fromJson(v.toObject());
        rows.push_back({g.name, QString::number(g.members)});
    }
    return rows;
}

} // namespace ws2api::console
