#pragma once
// The current bridge's configuration: every key with value, default, bounds,
// whether it applies live, and where the value comes from. Double-click a
// value to change it; a refused value shows the reason, an accepted one how
// it was applied. "Reset to default" removes the stored value.
#include <QPointer>
#include <QWidget>

class QLabel;
class QLineEdit;
class QPushButton;
class QSortFilterProxyModel;
class QTableView;

namespace ws2api::console {

class ConfigModel;
class ManagementClient;

class ConfigView : public QWidget {
    Q_OBJECT
public:
    explicit ConfigView(QWidget* parent = nullptr);
    void setClient(ManagementClient* client);
    ConfigModel* model() const { return model_; }
    /// Selects a key (for scripts and screenshots).
    void selectKey(const QString& key);

private:
    void showMessage(const QString& text, bool good);
    void onCurrentChanged();

    ConfigModel* model_;
    QSortFilterProxyModel* proxy_;
    QLineEdit* filter_;
    QTableView* table_;
    QLabel* help_;
    QLabel* message_;
    QPushButton* reset_;
};

} // namespace ws2api::console
