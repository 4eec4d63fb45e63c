#include "server/app/Cli.h"
#include "server/app/ServerApp.h"

#include <Poco/Util/Application.h>

#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv)
{
    // `ws2api config|token|stats ...` administer the --db file; anything else runs the server.
    if (argc > 1 && ws2api::Cli::isCommand(argv[1])) {
        ws2api::Cli cli(std::cout, std::cerr);
        return cli.run(std::vector<std::string>(argv + 1, argv + argc));
    }
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
