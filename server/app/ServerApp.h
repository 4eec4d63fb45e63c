#pragma once
// The ws2api daemon, following POCO's ServerApplication lifecycle:
// options -> main() -> start the Bridge -> wait for SIGTERM/SIGINT -> graceful stop.
#include "common/Config.h"

#include <Poco/Util/ServerApplication.h>

#include <ostream>
#include <string>

namespace ws2api {

class ServerApp : public Poco::Util::ServerApplication {
public:
    ServerApp();

protected:
    void defineOptions(Poco::Util::OptionSet& options) override;
    void handleOption(const std::string& name, const std::string& value) override;
    int main(const std::vector<std::string>& args) override;

private:
    void setKey(const char* key, const std::string& value);
    static void printConfigReference(std::ostream& out);

    Config config_;
    std::string dbPath_;
    bool exitEarly_ = false;
};

} // namespace ws2api
