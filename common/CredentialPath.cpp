#include "common/CredentialPath.h"

#include <cstdlib>

namespace ws2api {

bool resolveCredentialPath(std::string_view key, const std::string& value, std::string& path, std::string& error)
{
    static constexpr std::string_view kPrefix = "credential:";
    if (value.compare(0, kPrefix.size(), kPrefix) != 0) {
        path = value;
        return true;
    }
    const std::string name = value.substr(kPrefix.size());
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
        error = std::string(key) + " '" + value + "': a credential name is one file name (credential:internal.key)";
        return false;
    }
    const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
    if (!dir || !*dir) {
        error = std::string(key) + " '" + value +
                "': $CREDENTIALS_DIRECTORY is not set (LoadCredential= in the service's unit provides it; "
                "docs/SECURITY.md)";
        return false;
    }
    path = std::string(dir) + "/" + name;
    return true;
}

} // namespace ws2api
