#pragma once
// The strip under the toolbar that says, in words, why the current bridge is
// not showing live data — unreachable, token refused, no token yet, stream
// down — when it will try again, and offers "Reconnect now" / "Enter token…".
// Hidden while all is well.
#include <QFrame>
#include <QPointer>

class QLabel;
class QPushButton;
class QTimer;

namespace ws2api::console {

class Bridge;

class StatusBanner : public QFrame {
    Q_OBJECT
public:
    explicit StatusBanner(QWidget* parent = nullptr);
    void setBridge(Bridge* bridge);
    /// A problem with the token source (e.g. an unsafe token file); empty clears it.
    void setTokenProblem(const QString& text);
    QString text() const;

signals:
    void enterTokenRequested();

private:
    void refresh();

    QPointer<Bridge> bridge_;
    QString tokenProblem_;
    QLabel* text_;
    QPushButton* reconnect_;
    QPushButton* token_;
    QTimer* tick_;
};

} // namespace ws2api::console
