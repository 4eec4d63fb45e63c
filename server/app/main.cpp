#include "server/app/ServerApp.h"

#include <Poco/Util/Application.h>

#include <iostream>

int main(int argc, char** argv)
{
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
