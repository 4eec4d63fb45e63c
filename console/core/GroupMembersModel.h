#pragma once
// The members (ClientIds, sorted) of one group of one bridge
// (GET /api/v1/groups/<group>), paged as the view scrolls (PagedModel).
//
// Thread rules: GUI thread only.
#include "console/core/PagedModel.h"

namespace ws2api::console {

class GroupMembersModel : public PagedModel {
    Q_OBJECT
public:
    explicit GroupMembersModel(QObject* parent = nullptr);

    /// The group to show (empty: none). Starts a new generation.
    void setGroup(const QString& group);
    QString group() const { return group_; }

    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

protected:
    bool ready() const override { return client_ != nullptr && !group_.isEmpty(); }
    void request(int offset, int limit, QObject* context, ManagementClient::Callback cb) override;
    QVector<QStringList> parse(const QJsonObject& body) const override;

private:
    QString group_;
};

} // namespace ws2api::console
