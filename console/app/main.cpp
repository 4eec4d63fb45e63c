// ws2api-console: the Qt admin console. Everything but the option parsing is
// in MainWindow and the ws2api_console_core library.
#include "console/app/ConfigView.h"
#include "console/app/ConnectionsView.h"
#include "console/app/GroupsView.h"
#include "console/app/MainWindow.h"
#include "console/app/OverviewView.h"
#include "console/app/PushDialog.h"
#include "console/core/ConfigModel.h"

#include "ws2api/Version.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QTimer>

#include <cstdio>

using namespace ws2api::console;

int main(int argc, char** argv)
{
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("ws2api-console"));
    QApplication::setOrganizationName(QStringLiteral("ws2api"));
    QApplication::setApplicationVersion(QString::fromLatin1(ws2api::kVersion));
    QApplication::setDesktopFileName(QStringLiteral("ws2api-console"));
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/ws2api-console.png")));

    QCommandLineParser p;
    p.setApplicationDescription(QStringLiteral(
        "Admin console for ws2api bridges (docs/CONSOLE.md). Without --bridge it opens the bridges added "
        "before; bridges given with --bridge are used for this run and not remembered."));
    p.addHelpOption();
    p.addVersionOption();
    QCommandLineOption bridge(QStringLiteral("bridge"), QStringLiteral("A bridge for this run: NAME=URL (repeatable)."),
                              QStringLiteral("NAME=URL"));
    QCommandLineOption tokenFile(QStringLiteral("token-file"),
                                 QStringLiteral("Token file for the --bridge of the same position (one file: for all). "
                                                "Must not be readable by group or others."),
                                 QStringLiteral("PATH"));
    QCommandLineOption caFile(QStringLiteral("ca-file"),
                              QStringLiteral("https:// bridges: PEM CA file to verify the --bridge of the same position "
                                             "with (one file: for all); default: the system's CA store."),
                              QStringLiteral("PATH"));
    QCommandLineOption view(QStringLiteral("view"), QStringLiteral("View to open: overview, connections, groups, config, audit."),
                            QStringLiteral("VIEW"), QStringLiteral("overview"));
    QCommandLineOption scope(QStringLiteral("scope"), QStringLiteral("Overview charts: cluster or a bridge number (0...)."),
                             QStringLiteral("SCOPE"));
    QCommandLineOption select(QStringLiteral("select"), QStringLiteral("Connections view: filter on and select this ClientId."),
                              QStringLiteral("CLIENTID"));
    QCommandLineOption push(QStringLiteral("push"), QStringLiteral("With --select: open the test push dialog and send this text."),
                            QStringLiteral("TEXT"));
    QCommandLineOption group(QStringLiteral("group"), QStringLiteral("Groups view: filter on and select this group."),
                             QStringLiteral("GROUP"));
    QCommandLineOption groupPush(QStringLiteral("group-push"),
                                 QStringLiteral("With --group: open the group's test push dialog and send this text "
                                                "(--group '*': to every client)."),
                                 QStringLiteral("TEXT"));
    QCommandLineOption key(QStringLiteral("config-key"), QStringLiteral("Configuration view: select this key."),
                           QStringLiteral("KEY"));
    QCommandLineOption tryValue(QStringLiteral("config-try"),
                                QStringLiteral("Configuration view: submit KEY=VALUE as if typed in (shows the answer)."),
                                QStringLiteral("KEY=VALUE"));
    p.addOptions({bridge, tokenFile, caFile, view, scope, select, push, group, groupPush, key, tryValue});
    p.process(app);

    QVector<BridgeConfig> bridges;
    const QStringList files = p.values(tokenFile);
    const QStringList cas = p.values(caFile);
    const QStringList given = p.values(bridge);
    for (int i = 0; i < given.size(); ++i) {
        const int eq = given[i].indexOf(QLatin1Char('='));
        if (eq <= 0) {
            std::fprintf(stderr, "ws2api-console: --bridge wants NAME=URL, got '%s'\n", qPrintable(given[i]));
            return 2;
        }
        BridgeConfig c;
        c.name = given[i].left(eq);
        c.url = given[i].mid(eq + 1);
        const QString file = files.size() == 1 ? files[0] : files.value(i);
        c.tokenSource = file.isEmpty() ? BridgeConfig::TokenSource::Session : BridgeConfig::TokenSource::File;
        c.tokenFile = file;
        c.caFile = cas.size() == 1 ? cas[0] : cas.value(i);
        bridges.push_back(c);
    }
    // In the order of MainWindow::View.
    const QStringList views = {QStringLiteral("overview"), QStringLiteral("connections"), QStringLiteral("groups"),
                               QStringLiteral("config"), QStringLiteral("audit")};
    const int viewIndex = views.indexOf(p.value(view));
    if (viewIndex < 0) {
        std::fprintf(stderr, "ws2api-console: --view is one of overview, connections, groups, config, audit\n");
        return 2;
    }

    MainWindow w(bridges, bridges.isEmpty());
    w.showView(static_cast<MainWindow::View>(viewIndex));
    QObject::connect(&w, &MainWindow::ready, &w, [&] {
        if (p.isSet(scope)) {
            const QString s = p.value(scope);
            w.overviewView()->setScope(s == QLatin1String("cluster") ? -1 : s.toInt());
        }
        if (p.isSet(select)) {
            w.connectionsView()->selectClient(p.value(select));
            if (p.isSet(push)) {
                const QString text = p.value(push);
                QTimer::singleShot(2500, &w, [&w, text] {
                    if (PushDialog* d = w.connectionsView()->openPushDialog()) {
                        d->setText(text);
                        d->send();
                    }
                });
            }
        }
        if (p.isSet(group)) {
            const QString g = p.value(group);
            if (g != QLatin1String("*")) w.groupsView()->selectGroup(g);
            if (p.isSet(groupPush)) {
                const QString text = p.value(groupPush);
                QTimer::singleShot(2500, &w, [&w, g, text] {
                    if (PushDialog* d = w.groupsView()->openPushDialog(g == QLatin1String("*"))) {
                        d->setText(text);
                        d->send();
                    }
                });
            }
        }
        if (p.isSet(key) || p.isSet(tryValue)) {
            const QString k = p.value(key);
            const QString kv = p.value(tryValue);
            QObject::connect(w.configView()->model(), &ConfigModel::loaded, &w, [&w, k, kv] {
                static bool once = false;
                if (once) return;
                once = true;
                const int eq = kv.indexOf(QLatin1Char('='));
                w.configView()->selectKey(eq > 0 ? kv.left(eq) : k);
                if (eq > 0) w.configView()->model()->submit(kv.left(eq), kv.mid(eq + 1));
            });
        }
    });
    w.show();
    return QApplication::exec();
}
