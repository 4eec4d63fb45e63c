#include "console/app/ChartPanel.h"

#include <QChart>
#include <QChartView>
#include <QDateTime>
#include <QDateTimeAxis>
#include <QGridLayout>
#include <QLineSeries>
#include <QTimer>
#include <QValueAxis>

#include <algorithm>
#include <cmath>

namespace ws2api::console {

namespace {
double niceMax(double v)
{
    if (v <= 0) return 1;
    const double p = std::pow(10.0, std::floor(std::log10(v)));
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (v <= m * p) return m * p;
    return 10 * p;
}
} // namespace

ChartPanel::ChartPanel(QWidget* parent) : QWidget(parent)
{
    auto* grid = new QGridLayout(this);
    grid->setContentsMargins(0, 0, 0, 0);
    grid->setSpacing(4);
    charts_ << makeChart(tr("Open connections"), {tr("open")}, {QColor(0x1f, 0x77, 0xb4)}, tr("connections"));
    charts_ << makeChart(tr("Connects / disconnects per second"), {tr("connects/s"), tr("disconnects/s")},
                         {QColor(0x2c, 0xa0, 0x2c), QColor(0xd6, 0x27, 0x28)}, tr("per second"));
    charts_ << makeChart(tr("Messages per second"), {tr("in (clients → API)"), tr("out (to clients)")},
                         {QColor(0x1f, 0x77, 0xb4), QColor(0xff, 0x7f, 0x0e)}, tr("per second"));
    charts_ << makeChart(tr("Upstream latency and failures"), {tr("p50 ms"), tr("p99 ms"), tr("failures/s")},
                         {QColor(0x2c, 0xa0, 0x2c), QColor(0x94, 0x67, 0xbd), QColor(0xd6, 0x27, 0x28)}, tr("ms"),
                         tr("failures/s"));
    for (int i = 0; i < charts_.size(); ++i) grid->addWidget(charts_[i].view, i / 2, i % 2);
    // Time moves on even when no point comes (a bridge is down): keep scrolling.
    auto* clock = new QTimer(this);
    connect(clock, &QTimer::timeout, this, [this] {
        if (isVisible()) redraw();
    });
    clock->start(2000);
}

ChartPanel::Chart ChartPanel::makeChart(const QString& title, const QStringList& names, const QList<QColor>& colors,
                                        const QString& yTitle, const QString& y2Title)
{
    Chart c;
    c.chart = new QChart();
    c.chart->setTitle(title);
    c.chart->setMargins(QMargins(4, 4, 4, 4));
    c.chart->legend()->setAlignment(Qt::AlignBottom);
    c.chart->setAnimationOptions(QChart::NoAnimation);
    c.x = new QDateTimeAxis;
    c.x->setFormat(QStringLiteral("HH:mm"));
    c.x->setTickCount(6);
    c.y = new QValueAxis;
    c.y->setTitleText(yTitle);
    c.y->setLabelFormat(QStringLiteral("%g"));
    c.chart->addAxis(c.x, Qt::AlignBottom);
    c.chart->addAxis(c.y, Qt::AlignLeft);
    if (!y2Title.isEmpty()) {
        c.y2 = new QValueAxis;
        c.y2->setTitleText(y2Title);
        c.y2->setLabelFormat(QStringLiteral("%g"));
        c.chart->addAxis(c.y2, Qt::AlignRight);
    }
    for (int i = 0; i < names.size(); ++i) {
        auto* line = new QLineSeries;
        line->setName(names[i]);
        QPen pen(colors.value(i));
        pen.setWidthF(1.6);
        line->setPen(pen);
        c.chart->addSeries(line);
        line->attachAxis(c.x);
        // The last line of a chart with a second axis (failures) uses it.
        line->attachAxis(c.y2 && i == names.size() - 1 ? c.y2 : c.y);
        c.lines << line;
    }
    c.view = new QChartView(c.chart);
    c.view->setRenderHint(QPainter::Antialiasing);
    c.view->setMinimumHeight(170);
    return c;
}

void ChartPanel::setSeries(StatsSeries* series)
{
    if (series_) series_->disconnect(this);
    series_ = series;
    if (series_) {
        connect(series_, &StatsSeries::appended, this, &ChartPanel::redraw);
        connect(series_, &StatsSeries::reset, this, &ChartPanel::redraw);
    }
    redraw();
}

void ChartPanel::setWindowSeconds(int seconds)
{
    windowSeconds_ = std::max(60, seconds);
    redraw();
}

void ChartPanel::redraw()
{
    const double now = static_cast<double>(QDateTime::currentMSecsSinceEpoch()) / 1000.0;
    const double from = now - windowSeconds_;
    const QVector<RatePoint> pts = series_ ? series_->since(from) : QVector<RatePoint>();
    using Get = double (*)(const RatePoint&);
    const QList<QList<Get>> getters = {
        {[](const RatePoint& p) { return p.connectionsOpen; }},
        {[](const RatePoint& p) { return p.connectsPerSec; }, [](const RatePoint& p) { return p.disconnectsPerSec; }},
        {[](const RatePoint& p) { return p.messagesInPerSec; }, [](const RatePoint& p) { return p.messagesOutPerSec; }},
        {[](const RatePoint& p) { return p.upstreamP50Ms; }, [](const RatePoint& p) { return p.upstreamP99Ms; },
         [](const RatePoint& p) { return p.upstreamFailedPerSec; }},
    };
    for (int c = 0; c < charts_.size(); ++c) {
        Chart& ch = charts_[c];
        double maxY = 0, maxY2 = 0;
        for (int l = 0; l < ch.lines.size(); ++l) {
            QList<QPointF> points;
            points.reserve(pts.size());
            const bool second = ch.y2 && l == ch.lines.size() - 1;
            for (const RatePoint& p : pts) {
                const double v = getters[c][l](p);
                points.append(QPointF(p.ts * 1000.0, v));
                (second ? maxY2 : maxY) = std::max(second ? maxY2 : maxY, v);
            }
            ch.lines[l]->replace(points);
        }
        ch.x->setRange(QDateTime::fromMSecsSinceEpoch(static_cast<qint64>(from * 1000)),
                       QDateTime::fromMSecsSinceEpoch(static_cast<qint64>(now * 1000)));
        ch.x->setFormat(windowSeconds_ <= 600 ? QStringLiteral("HH:mm:ss") : QStringLiteral("HH:mm"));
        ch.y->setRange(0, niceMax(maxY * 1.1));
        if (ch.y2) ch.y2->setRange(0, niceMax(maxY2 * 1.1));
    }
}

} // namespace ws2api::console
