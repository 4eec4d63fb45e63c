#include "console/core/GroupMembersModel.h"

#include <QJsonArray>

namespace ws2api::console {

GroupMembersModel::GroupMembersModel(QObject* parent) : PagedModel(parent) { setPageSize(500); }

void GroupMembersModel::setGroup(const QString& group)
{
    group_ = group;
    restart();
}

int GroupMembersModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : 1; }

QVariant GroupMembersModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole || section != 0) return {};
    return tr("Member (ClientId)");
}

void GroupMembersModel::request(int offset, int limit, QObject* context, ManagementClient::Callback cb)
{
    client_->fetchGroupMembers(group_, offset, limit, context, std::move(cb));
}

QVector<QStringList> GroupMembersModel::parse(const QJsonObject& body) const
{
    QVector<QStringList> rows;
    const QJsonArray members = body.value(QLatin1String("members")).toArray();
    rows.reserve(members.size());
    for (const QJsonValue& v : members) rows.push_back({v.toString()});
    return rows;
}

} // namespace ws2api::console
