#pragma once
// The console's window: a bridge selector and bridge actions in the toolbar,
// the status banner, and five views (Overview, Connections, Groups,
// Configuration, Audit log). Owns the BridgeSet; remembers bridges (never tokens) in
// QSettings unless they came from the command line.
#include "console/core/BridgeSettings.h"

#include <QMainWindow>
#include <QPointer>

class QComboBox;
class QLabel;
class QTabWidget;

namespace ws2api::console {

class AuditView;
class Bridge;
class BridgeSet;
class ConfigView;
class ConnectionsView;
class GroupsView;
class OverviewView;
class StatusBanner;
class TokenStore;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    enum View { Overview, Connections, Groups, Configuration, Audit };

    /// `bridges`: from the command line (not saved) or empty to use the remembered ones.
    MainWindow(const QVector<BridgeConfig>& bridges, bool remember, QWidget* parent = nullptr);

    void showView(View v);
    BridgeSet* bridges() const { return set_; }
    ConnectionsView* connectionsView() const { return connections_; }
    GroupsView* groupsView() const { return groups_; }
    ConfigView* configView() const { return config_; }
    OverviewView* overviewView() const { return overview_; }

signals:
    /// The token store is known and the bridges were added (scripts wait for it).
    void ready();

private:
    void onTokenStore(TokenStore* store, const QString& why);
    void addConfigured(const BridgeConfig& c, const QString& typedToken);
    void acquireToken(int index);
    void setCurrent(int index);
    void addBridgeDialog();
    void editBridgeDialog();
    void removeCurrent();
    void askToken();
    void save();
    void updateStatus();

    BridgeSet* set_;
    QVector<BridgeConfig> configs_; ///< parallel to set_->bridges()
    QVector<BridgeConfig> initial_;
    bool remember_;
    TokenStore* tokens_ = nullptr;
    QComboBox* bridgeBox_;
    StatusBanner* banner_;
    QTabWidget* tabs_;
    OverviewView* overview_;
    ConnectionsView* connections_;
    GroupsView* groups_;
    ConfigView* config_;
    AuditView* audit_;
    QLabel* storageLabel_;
    QLabel* summary_;
    QPointer<Bridge> current_;
};

} // namespace ws2api::console
