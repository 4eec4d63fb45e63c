#include "console/app/GroupsView.h"

#include "console/app/PushDialog.h"
#include "console/core/GroupMembersModel.h"
#include "console/core/GroupsModel.h"
#include "console/core/ManagementClient.h"

#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QPushButton>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

namespace ws2api::console {

namespace {
void setUpTable(QTableView* t)
{
    t->setSelectionBehavior(QAbstractItemView::SelectRows);
    t->setSelectionMode(QAbstractItemView::SingleSelection);
    t->verticalHeader()->hide();
    t->verticalHeader()->setDefaultSectionSize(t->fontMetrics().height() + 6);
    t->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    t->horizontalHeader()->setStretchLastSection(true);
    t->setAlternatingRowColors(true);
}
} // namespace

GroupsView::GroupsView(QWidget* parent) : QWidget(parent)
{
    groups_ = new GroupsModel(this);
    members_ = new GroupMembersModel(this);

    prefix_ = new QLineEdit;
    prefix_->setPlaceholderText(tr("Group name starts with…"));
    prefix_->setClearButtonEnabled(true);
    connect(prefix_, &QLineEdit::textChanged, groups_, &GroupsModel::setPrefixFilter);
    count_ = new QLabel;
    pushAll_ = new QPushButton(tr("Send test push to everyone…"));
    pushAll_->setToolTip(tr("POST /api/v1/groups/*/push: every client connected to this bridge"));
    connect(pushAll_, &QPushButton::clicked, this, [this] { openPushDialog(true); });

    table_ = new QTableView;
    table_->setModel(groups_);
    setUpTable(table_);
    table_->setColumnWidth(GroupsModel::GroupColumn, 260);
    connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this, &GroupsView::onSelection);
    connect(groups_, &GroupsModel::totalChanged, this, &GroupsView::updateCount);
    connect(groups_, &GroupsModel::errorOccurred, this, &GroupsView::updateCount);
    connect(groups_, &GroupsModel::pageLoaded, this, &GroupsView::updateCount);
    connect(groups_, &GroupsModel::pageLoaded, this, &GroupsView::keepSelection);
    connect(groups_, &GroupsModel::modelReset, this, [this] {
        if (pendingSelect_.isEmpty()) pendingSelect_ = selected_; // a new filter: keep the group if it still matches
    });

    // Members of the selected group.
    auto* box = new QGroupBox(tr("Members"));
    membersTitle_ = new QLabel(tr("Select a group"));
    QFont tf = membersTitle_->font();
    tf.setBold(true);
    membersTitle_->setFont(tf);
    membersTitle_->setWordWrap(true);
    membersCount_ = new QLabel;
    membersTable_ = new QTableView;
    membersTable_->setModel(members_);
    setUpTable(membersTable_);
    membersTable_->setToolTip(tr("Double-click a member to see its connection"));
    connect(membersTable_, &QTableView::doubleClicked, this, [this](const QModelIndex& i) {
        const QString id = i.siblingAtColumn(0).data(PagedModel::KeyRole).toString();
        if (!id.isEmpty()) emit memberActivated(id);
    });
    connect(members_, &GroupMembersModel::totalChanged, this, &GroupsView::updateMembersCount);
    connect(members_, &GroupMembersModel::pageLoaded, this, &GroupsView::updateMembersCount);
    connect(members_, &GroupMembersModel::errorOccurred, this, &GroupsView::updateMembersCount);
    pushGroup_ = new QPushButton(tr("Send test push to this group…"));
    connect(pushGroup_, &QPushButton::clicked, this, [this] { openPushDialog(false); });
    auto* boxLayout = new QVBoxLayout(box);
    boxLayout->addWidget(membersTitle_);
    boxLayout->addWidget(membersCount_);
    boxLayout->addWidget(membersTable_, 1);
    boxLayout->addWidget(pushGroup_);
    box->setMinimumWidth(280);

    auto* bar = new QHBoxLayout;
    bar->addWidget(prefix_, 1);
    bar->addWidget(count_);
    bar->addStretch();
    bar->addWidget(pushAll_);
    auto* left = new QWidget;
    auto* leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->addLayout(bar);
    leftLayout->addWidget(table_, 1);
    auto* split = new QSplitter;
    split->addWidget(left);
    split->addWidget(box);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(split);
    onSelection();
    updateCount();
}

void GroupsView::setClient(ManagementClient* client)
{
    client_ = client;
    selected_.clear();
    groups_->setClient(client);
    members_->setClient(client);
    members_->setGroup(QString());
    onSelection();
}

void GroupsView::showEvent(QShowEvent* e)
{
    QWidget::showEvent(e);
    groups_->setAutoRefreshInterval(2000);
    members_->setAutoRefreshInterval(2000);
    groups_->refresh();
    members_->refresh();
}

void GroupsView::hideEvent(QHideEvent* e)
{
    QWidget::hideEvent(e);
    groups_->setAutoRefreshInterval(0);
    members_->setAutoRefreshInterval(0);
}

void GroupsView::selectGroup(const QString& group)
{
    pendingSelect_ = group;
    keepSelection(); // else when its page is here; filtered on when it is not on the first page
}

void GroupsView::updateCount()
{
    if (!groups_->lastError().isEmpty()) {
        count_->setText(tr("⚠ %1").arg(groups_->lastError()));
        return;
    }
    const qint64 t = groups_->total();
    QString text = t < 0 ? tr("…") : tr("%1 group(s)").arg(QLocale().toString(t));
    if (!groups_->prefixFilter().isEmpty() && t >= 0) text += tr(" matching");
    if (t > groups_->rowCount()) text += tr(", %1 loaded").arg(QLocale().toString(groups_->rowCount()));
    count_->setText(text);
}

void GroupsView::updateMembersCount()
{
    if (selected_.isEmpty()) {
        membersCount_->clear();
        return;
    }
    if (!members_->lastError().isEmpty()) {
        membersCount_->setText(tr("⚠ %1").arg(members_->lastError()));
        return;
    }
    const qint64 t = members_->total();
    QString text = t < 0 ? tr("…") : tr("%1 member(s) connected to this bridge").arg(QLocale().toString(t));
    if (t > members_->rowCount()) text += tr(", %1 loaded (scroll for more)").arg(QLocale().toString(members_->rowCount()));
    membersCount_->setText(text);
}

void GroupsView::keepSelection()
{
    // Rows are replaced in place on refresh: follow the group by name.
    const QString want = !pendingSelect_.isEmpty() ? pendingSelect_ : selected_;
    if (want.isEmpty()) return;
    const int row = groups_->rowOf(want);
    if (row < 0) {
        // A script asked for a group further down the list: filter on it.
        if (!pendingSelect_.isEmpty() && groups_->total() > groups_->rowCount() && prefix_->text() != pendingSelect_) {
            prefix_->setText(pendingSelect_);
            groups_->applyFilterNow();
        }
        return;
    }
    pendingSelect_.clear();
    const QModelIndex current = table_->selectionModel()->currentIndex();
    if (current.isValid() && current.row() == row) return;
    table_->selectRow(row);
}

void GroupsView::onSelection()
{
    const QModelIndex current = table_->selectionModel()->currentIndex();
    const QString group = current.isValid() ? current.siblingAtColumn(0).data(PagedModel::KeyRole).toString() : QString();
    pushGroup_->setEnabled(!group.isEmpty() && client_);
    pushAll_->setEnabled(client_ != nullptr);
    if (group == selected_) return;
    selected_ = group;
    membersTitle_->setText(group.isEmpty() ? tr("Select a group") : group);
    members_->setGroup(group);
    updateMembersCount();
}

PushDialog* GroupsView::openPushDialog(bool everyone)
{
    if (!client_ || (!everyone && selected_.isEmpty())) return nullptr;
    auto* d = new PushDialog(client_, everyone ? QStringLiteral("*") : selected_, this, PushDialog::Target::Group);
    d->show();
    return d;
}

} // namespace ws2api::console
