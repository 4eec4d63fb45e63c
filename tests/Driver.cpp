// CppUnit runner: `<binary>` runs every registered suite, `<binary> Name...`
// runs the named suites (CTest registers one test per suite).
// Built with WS2API_TEST_QT (the console's tests): a QCoreApplication gives the
// tests an event loop (run with QT_QPA_PLATFORM=offscreen; CTest sets it), and
// the tests never touch the user's keyring.
#include <cppunit/BriefTestProgressListener.h>
#include <cppunit/CompilerOutputter.h>
#include <cppunit/TestResult.h>
#include <cppunit/TestResultCollector.h>
#include <cppunit/TestRunner.h>
#include <cppunit/extensions/TestFactoryRegistry.h>

#include <csignal>
#include <iostream>

#ifdef WS2API_TEST_QT
#include <QCoreApplication>
#endif

int main(int argc, char** argv)
{
    std::signal(SIGPIPE, SIG_IGN); // tests write to sockets the server may have closed
#ifdef WS2API_TEST_QT
    qputenv("WS2API_CONSOLE_NO_KEYRING", "1");
    QCoreApplication app(argc, argv);
#endif
    CppUnit::TestResult controller;
    CppUnit::TestResultCollector result;
    controller.addListener(&result);
    CppUnit::BriefTestProgressListener progress;
    controller.addListener(&progress);

    CppUnit::TestRunner runner;
    runner.addTest(CppUnit::TestFactoryRegistry::getRegistry().makeTest()); // the runner owns it
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
