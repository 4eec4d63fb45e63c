// CppUnit runner for the console's core: `<binary>` runs every suite,
// `<binary> Name...` the named ones (CTest registers one test per suite).
// A QCoreApplication gives the tests an event loop; run with
// QT_QPA_PLATFORM=offscreen (CTest sets it).
#include <cppunit/BriefTestProgressListener.h>
#include <cppunit/CompilerOutputter.h>
#include <cppunit/TestResult.h>
#include <cppunit/TestResultCollector.h>
#include <cppunit/TestRunner.h>
#include <cppunit/extensions/TestFactoryRegistry.h>

#include <QCoreApplication>

#include <csignal>
#include <iostream>

int main(int argc, char** argv)
{
    std::signal(SIGPIPE, SIG_IGN);
    qputenv("WS2API_CONSOLE_NO_KEYRING", "1"); // tests never touch the user's keyring
    QCoreApplication app(argc, argv);
    CppUnit::TestResult controller;
    CppUnit::TestResultCollector result;
    controller.addListener(&result);
    CppUnit::BriefTestProgressListener progress;
    controller.addListener(&progress);

    CppUnit::TestRunner runner;
    runner.addTest(CppUnit::TestFactoryRegistry::getRegistry().makeTest());
    if (argc <= 1) {
        runner.run(controller);
    } else {
        for (int i = 1; i < argc; ++i) {
            try {
                runner.run(controller, argv[i]);
            } catch (const std::invalid_argument&) {
                std::cerr << "no test suite named " << argv[i] << '\n';
                return 2;
            }
        }
    }
    CppUnit::CompilerOutputter outputter(&result, std::cerr);
    outputter.write();
    return result.wasSuccessful() ? 0 : 1;
}
