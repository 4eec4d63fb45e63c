#pragma once
// The management API (docs/API.md): JSON over HTTP under /api/v1/ on the
// internal listener, every call authenticated with a management token
// (TokenAuth). Its calls may take a while (a page of a million connections,
// the SQLite history), so they run on the internal listener's management
// workers (server/api/InternalApi.h), never on an event loop.
// GET /api/v1/events, the live event stream, is served by the loops
// (HttpServerConnection); its token check is authenticate() below.
#include "server/http/HttpMessage.h"

#include <cstddef>
#include <string>

namespace ws2api {

class ApiContext;

class ManagementHandler {
public:
    /// Largest request body of a management call.
    static constexpr std::size_t kMaxBodyBytes = 1024 * 1024;

    ManagementHandler(ApiContext& bridge, std::string path);
    /// Blocking: a management worker thread.
    void handle(const HttpRequest& request, HttpResponse& response);
    /// The management token check: false after answering 401 (counted). Any thread.
    static bool authenticate(ApiContext& bridge, const HttpRequest& request, HttpResponse& response);

private:
    ApiContext& bridge_;
    std::string path_; ///< without the query
};

} // namespace ws2api
