#pragma once
// Four charts of one StatsSeries that scroll with time: open connections;
// connects and disconnects per second; messages per second each way;
// upstream latency (p50, p99) with failures per second. The time axis ends
// at "now" and spans the chosen window; a new point moves it.
#include "console/core/StatsSeries.h"

#include <QPointer>
#include <QWidget>

class QChart;
class QChartView;
class QDateTimeAxis;
class QLineSeries;
class QValueAxis;

namespace ws2api::console {

class ChartPanel : public QWidget {
    Q_OBJECT
public:
    explicit ChartPanel(QWidget* parent = nullptr);
    void setSeries(StatsSeries* series);
    void setWindowSeconds(int seconds);
    int windowSeconds() const { return windowSeconds_; }

private:
    struct Chart {
        QChart* chart = nullptr;
        QChartView* view = nullptr;
        QDateTimeAxis* x = nullptr;
        QValueAxis* y = nullptr;
        QValueAxis* y2 = nullptr;
        QList<QLineSeries*> lines;
    };
    Chart makeChart(const QString& title, const QStringList& names, const QList<QColor>& colors,
                    const QString& yTitle, const QString& y2Title = QString());
    void redraw();

    QPointer<StatsSeries> series_;
    int windowSeconds_ = 5 * 60;
    QList<Chart> charts_;
};

} // namespace ws2api::console
