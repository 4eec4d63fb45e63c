#include "console/app/AuditView.h"

#include "console/core/AuditModel.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QTableView>
#include <QVBoxLayout>

namespace ws2api::console {

AuditView::AuditView(QWidget* parent) : QWidget(parent)
{
    model_ = new AuditModel(this);
    table_ = new QTableView;
    table_->setModel(model_);
    table_->verticalHeader()->hide();
    table_->setWordWrap(false);
    table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 8);
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setAlternatingRowColors(true);
    table_->setColumnWidth(AuditModel::TimeColumn, 160);
    table_->setColumnWidth(AuditModel::ActorColumn, 150);
    table_->setColumnWidth(AuditModel::ActionColumn, 110);
    table_->setColumnWidth(AuditModel::TargetColumn, 230);
    status_ = new QLabel;
    auto* refresh = new QPushButton(tr("Refresh"));
    connect(refresh, &QPushButton::clicked, model_, &AuditModel::reload);
    connect(model_, &AuditModel::loadFailed, this, [this](const QString& why) {
        status_->setText(tr("✘ Cannot read the audit log: %1").arg(why));
        status_->setStyleSheet(QStringLiteral("color: #c01c28;"));
    });
    connect(model_, &AuditModel::loaded, this, [this] {
        status_->setText(tr("%1 entries shown, newest first%2")
                             .arg(model_->rowCount())
                             .arg(model_->atEnd() ? tr(" (all)") : tr("; scroll down for older ones")));
        status_->setStyleSheet(QString());
    });
    auto* top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("Who changed what, from the bridge's database:")));
    top->addStretch();
    top->addWidget(status_);
    top->addWidget(refresh);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(table_);
}

void AuditView::setClient(ManagementClient* client) { model_->setClient(client); }

void AuditView::showEvent(QShowEvent* e)
{
    QWidget::showEvent(e);
    model_->reload();
}

} // namespace ws2api::console
