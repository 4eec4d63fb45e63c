#include "console/app/ConfigView.h"

#include "console/core/ConfigModel.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QStyledItemDelegate>
#include <QTableView>
#include <QVBoxLayout>

namespace ws2api::console {

namespace {
/// Bold values that differ from the default, italic ones on their way.
class ValueStyle : public QSortFilterProxyModel {
public:
    using QSortFilterProxyModel::QSortFilterProxyModel;
    QVariant data(const QModelIndex& index, int role) const override
    {
        if (role == Qt::FontRole && index.column() == ConfigModel::ValueColumn) {
            QFont f;
            f.setBold(QSortFilterProxyModel::data(index, ConfigModel::ModifiedRole).toBool());
            f.setItalic(QSortFilterProxyModel::data(index, ConfigModel::PendingRole).toBool());
            return f;
        }
        if (role == Qt::ForegroundRole && index.column() == ConfigModel::AppliesColumn
            && QSortFilterProxyModel::data(index, Qt::DisplayRole).toString().contains(QLatin1String("restart needed")))
            return QColor(0xc0, 0x1c, 0x28);
        return QSortFilterProxyModel::data(index, role);
    }
};
} // namespace

ConfigView::ConfigView(QWidget* parent) : QWidget(parent)
{
    model_ = new ConfigModel(this);
    proxy_ = new ValueStyle(this);
    proxy_->setSourceModel(model_);
    proxy_->setFilterKeyColumn(ConfigModel::KeyColumn);
    proxy_->setFilterCaseSensitivity(Qt::CaseInsensitive);

    filter_ = new QLineEdit;
    filter_->setPlaceholderText(tr("Find a key…"));
    filter_->setClearButtonEnabled(true);
    connect(filter_, &QLineEdit::textChanged, proxy_, &QSortFilterProxyModel::setFilterFixedString);

    table_ = new QTableView;
    table_->setModel(proxy_);
    table_->setSortingEnabled(true);
    table_->sortByColumn(ConfigModel::KeyColumn, Qt::AscendingOrder);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed);
    table_->verticalHeader()->hide();
    table_->setWordWrap(false);
    table_->setTextElideMode(Qt::ElideRight);
    table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 8);
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->setAlternatingRowColors(true);
    table_->setColumnWidth(ConfigModel::KeyColumn, 250);
    table_->setColumnWidth(ConfigModel::ValueColumn, 190);
    table_->setColumnWidth(ConfigModel::DefaultColumn, 150);
    table_->setColumnWidth(ConfigModel::BoundsColumn, 150);
    table_->setColumnWidth(ConfigModel::AppliesColumn, 110);
    table_->setColumnWidth(ConfigModel::SourceColumn, 100);
    connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this, &ConfigView::onCurrentChanged);

    help_ = new QLabel;
    help_->setWordWrap(true);
    help_->setTextFormat(Qt::RichText);
    help_->setMinimumHeight(60);
    help_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    message_ = new QLabel;
    message_->setWordWrap(true);
    reset_ = new QPushButton(tr("Reset to default"));
    reset_->setEnabled(false);
    connect(reset_, &QPushButton::clicked, this, [this] {
        const QString key = table_->currentIndex().siblingAtColumn(0).data(ConfigModel::KeyNameRole).toString();
        if (!key.isEmpty()) model_->resetKey(key);
    });

    connect(model_, &ConfigModel::refused, this, [this](const QString& key, const QString& value, const QString& why) {
        showMessage(value.isEmpty() ? tr("%1: %2").arg(key, why) : tr("Refused %1 = %2 — %3").arg(key, value, why), false);
    });
    connect(model_, &ConfigModel::applied, this, [this](const QString& key, const QString& value, const QString& how) {
        QString when = how == QLatin1String("live")        ? tr("in effect now")
                       : how == QLatin1String("restart")    ? tr("stored; used after a restart of the bridge")
                       : how == QLatin1String("overridden") ? tr("stored, but --set on the bridge's command line wins for this run")
                                                            : how;
        showMessage(tr("%1 = %2: %3").arg(key, value, when), true);
    });
    connect(model_, &ConfigModel::resetDone, this,
            [this](const QString& key) { showMessage(tr("%1 is back to its default.").arg(key), true); });
    connect(model_, &ConfigModel::loadFailed, this,
            [this](const QString& why) { showMessage(tr("Cannot read the configuration: %1").arg(why), false); });
    connect(model_, &ConfigModel::dataChanged, this, &ConfigView::onCurrentChanged);

    auto* top = new QHBoxLayout;
    top->addWidget(filter_);
    top->addWidget(new QLabel(tr("Double-click a value to change it.")));
    top->addStretch();
    top->addWidget(reset_);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(table_, 1);
    layout->addWidget(message_);
    layout->addWidget(help_);
}

void ConfigView::setClient(ManagementClient* client) { model_->setClient(client); }

void ConfigView::selectKey(const QString& key)
{
    const int row = model_->rowOf(key);
    if (row < 0) return;
    const QModelIndex i = proxy_->mapFromSource(model_->index(row, 0));
    table_->setCurrentIndex(i);
    table_->scrollTo(i);
}

void ConfigView::showMessage(const QString& text, bool good)
{
    message_->setText((good ? QStringLiteral("✔ ") : QStringLiteral("✘ ")) + text);
    message_->setStyleSheet(good ? QStringLiteral("color: #1b7f2a;") : QStringLiteral("color: #c01c28; font-weight: bold;"));
}

void ConfigView::onCurrentChanged()
{
    const QModelIndex i = table_->currentIndex();
    const int row = i.isValid() ? proxy_->mapToSource(i).row() : -1;
    const ConfigKeyInfo* k = model_->key(row);
    reset_->setEnabled(k && k->source == QLatin1String("stored"));
    if (!k) {
        help_->clear();
        return;
    }
    help_->setText(tr("<b>%1</b> — %2<br>Type %3, bounds %4, default <code>%5</code>; %6. Value from: %7%8.")
                       .arg(k->name, k->help.toHtmlEscaped(), ConfigKeyInfo::typeName(k->type), k->boundsText(),
                            k->defaultValue.toHtmlEscaped(),
                            k->live ? tr("a change applies at once") : tr("a change needs a restart of the bridge"),
                            k->source,
                            k->changedBy.isEmpty() ? QString() : tr(" (set by %1)").arg(k->changedBy.toHtmlEscaped())));
}

} // namespace ws2api::console
