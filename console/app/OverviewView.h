#pragma once
// The overview: every bridge's health and numbers with the cluster's sums
// (ClusterModel), the live numbers of the chosen scope (the cluster or one
// bridge) and its charts.
#include <QWidget>

class QComboBox;
class QLabel;
class QTableView;

namespace ws2api::console {

class BridgeSet;
class ChartPanel;
class ClusterModel;

class OverviewView : public QWidget {
    Q_OBJECT
public:
    explicit OverviewView(BridgeSet* set, QWidget* parent = nullptr);
    /// -1: the cluster; else a bridge index.
    void setScope(int bridgeIndex);

signals:
    /// A bridge row was double-clicked: make it the current bridge.
    void bridgeActivated(int index);

private:
    void rebuildScopes();
    void updateTiles();

    BridgeSet* set_;
    ClusterModel* cluster_;
    QTableView* table_;
    QComboBox* scope_;
    QComboBox* window_;
    ChartPanel* charts_;
    QList<QLabel*> tiles_;
};

} // namespace ws2api::console
