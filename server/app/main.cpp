#include "server/app/ServerApp.h"

#include <Poco/Util/Application.h>

#include <Poco/AutoPtr.h>
#include <Poco/ConsoleChannel.h>
#include <Poco/FormattingChannel.h>
#include <Poco/Logger.h>
#include <Poco/PatternFormatter.h>

#include <iostream>

int main(int argc, char** argv)
{
    Poco::AutoPtr<Poco::PatternFormatter> format(new Poco::PatternFormatter("%Y-%m-%d %H:%M:%S.%i %p: %t"));
    Poco::AutoPtr<Poco::FormattingChannel> channel(new Poco::FormattingChannel(format, new Poco::ConsoleChannel));
    Poco::Logger::root().setChannel(channel);

    ws2api::ServerApp app;
    try {
        app.init(argc, argv);
    } catch (const Poco::Exception& e) {
        std::cerr << "ws2api: " << e.displayText() << " (see --help)\n";
        return Poco::Util::Application::EXIT_USAGE;
    }
    // ServerApplication::run() is protected; Application::run() is the same call.
    return static_cast<Poco::Util::Application&>(app).run();
}
