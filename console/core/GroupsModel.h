#pragma once
// The groups of one bridge (GET /api/v1/groups), sorted by name, with their
// member counts; filtered by a name prefix on the server (debounced while
// typing) and paged as the view scrolls (PagedModel).
//
// Thread rules: GUI thread only.
#include "console/core/PagedModel.h"

namespace ws2api::console {

class GroupsModel : public PagedModel {
    Q_OBJECT
public:
    enum Column { GroupColumn, MembersColumn, ColumnCount };

    explicit GroupsModel(QObject* parent = nullptr);

    void setFilterDelay(int ms) { filterTimer_.setInterval(ms); }
    void setPrefixFilter(const QString& prefix);
    QString prefixFilter() const { return prefix_; }
    /// Sends a pending debounced filter now.
    void applyFilterNow();

    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

protected:
    void request(int offset, int limit, QObject* context, ManagementClient::Callback cb) override;
    QVector<QStringList> parse(const QJsonObject& body) const override;
    bool isNumeric(int column) const override { return column == MembersColumn; }

private:
    QString prefix_;
    QString pendingPrefix_;
    QTimer filterTimer_;
};

} // namespace ws2api::console
