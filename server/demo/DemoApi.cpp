// ws2api-demo-api: the example upstream API of the quick start.
//   GET    /<ClientId>  -> "ok"          (every client is accepted)
//   POST   /<ClientId>  -> the body back (echo, same Content-Type)
//   DELETE /<ClientId>  -> "ok"
//   GET    /            -> a browser page that connects to the bridge
//   POST   /  (application/json, X-Ws2api-Report: live-set)
//                       -> a bridge's live-set report (docs/SCALING.md): sessions of
//                          that node it does not list are dropped as stale
// Every request is logged on stdout, so a newcomer sees what the bridge sends.
// Sessions are kept in memory (ClientId -> node) the way an API behind several
// bridges would: a DELETE from a node the client has left is ignored.
#include "ws2api/Version.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/ThreadPool.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/NumberParser.h>
#include <Poco/StreamCopier.h>
#include <Poco/Util/HelpFormatter.h>
#include <Poco/Util/Option.h>
#include <Poco/Util/OptionSet.h>
#include <Poco/Util/ServerApplication.h>

#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <set>

namespace {

using Poco::Net::HTTPRequest;
using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

std::mutex coutMutex;
bool quiet = false;

// ClientId -> the node that holds it and when its GET was accepted.
struct DemoSession {
    std::string node;
    std::chrono::steady_clock::time_point acceptedAt;
};
std::mutex sessionsMutex;
std::map<std::string, DemoSession> sessions;
long reconcileGraceMs = 2000;

const char* const kPage = R"HTML(<!doctype html>
<html><head><meta charset="utf-8"><title>ws2api demo</title>
<style>body{font:15px sans-serif;margin:2em;max-width:50em}input{font:inherit}#log{white-space:pre-wrap;
background:#f4f4f4;padding:1em;min-height:10em;font-family:monospace}</style></head><body>
<h1>ws2api demo</h1>
<p>This page talks to the bridge over WebSocket; the bridge turns each event into an HTTP request to
<code>ws2api-demo-api</code>, which echoes your messages.</p>
<p><input id="url" size="45"> <button id="connect">Connect</button> <button id="close">Close</button></p>
<p><input id="msg" size="45" value="hello"> <button id="send">Send</button></p>
<div id="log"></div>
<script>
const $ = id => document.getElementById(id);
$('url').value = 'ws://' + (location.hostname || 'localhost') + ':7001/demo-' + Math.random().toString(36).slice(2, 8);
let ws;
const log = t => { $('log').textContent += t + '\n'; };
$('connect').onclick = () => {
  ws = new WebSocket($('url').value);
  ws.onopen = () => log('open ' + $('url').value);
  ws.onmessage = e => log('< ' + e.data);
  ws.onclose = e => log('closed ' + e.code + ' ' + e.reason);
  ws.onerror = () => log('error (is the bridge running on port 7001?)');
};
$('send').onclick = () => { if (ws) { ws.send($('msg').value); log('> ' + $('msg').value); } };
$('close').onclick = () => { if (ws) ws.close(1000, 'bye'); };
</script></body></html>
)HTML";

void say(const std::string& line)
{
    if (quiet) return;
    std::lock_guard<std::mutex> lock(coutMutex);
    std::cout << line << std::endl;
}

// A live-set report: every session of that node which the report does not list
// and whose GET was accepted more than the grace time ago is gone (the node
// crashed, or restarted: its startup report lists nobody). The grace covers a
// GET answered just before the report was built. Listed ids the API does not
// know are ignored: a report never creates a session.
std::string onLiveSetReport(const std::string& body)
{
    Poco::JSON::Object::Ptr report = Poco::JSON::Parser().parse(body).extract<Poco::JSON::Object::Ptr>();
    const std::string node = report->getValue<std::string>("node");
    const std::string reason = report->getValue<std::string>("reason");
    std::set<std::string> live;
    Poco::JSON::Array::Ptr clients = report->getArray("clients");
    for (std::size_t i = 0; clients && i < clients->size(); ++i) live.insert(clients->getElement<std::string>(i));
    const auto cutoff = std::chrono::steady_clock::now() - std::chrono::milliseconds(reconcileGraceMs);
    std::vector<std::string> dropped;
    {
        std::lock_guard<std::mutex> lock(sessionsMutex);
        for (auto it = sessions.begin(); it != sessions.end();) {
            if (it->second.node == node && it->second.acceptedAt < cutoff && live.count(it->first) == 0) {
                dropped.push_back(it->first);
                it = sessions.erase(it);
            } else {
                ++it;
            }
        }
    }
    for (const auto& id : dropped) say("dropped stale session " + id + " (node " + node + " no longer has it)");
    return "live-set report from " + node + " (" + reason + ", boot " + report->getValue<std::string>("boot") +
           "): " + std::to_string(live.size()) + " clients, " + std::to_string(dropped.size()) + " stale sessions dropped";
}

class DemoHandler : public Poco::Net::HTTPRequestHandler {
public:
    void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override
    {
        std::string body;
        Poco::StreamCopier::copyToString(request.stream(), body);
        const std::string& method = request.getMethod();
        const std::string& uri = request.getURI();
        if (uri == "/" && method == HTTPRequest::HTTP_GET) {
            response.setContentType("text/html; charset=utf-8");
            response.sendBuffer(kPage, std::char_traits<char>::length(kPage));
            return;
        }
        std::string reply = "ok";
        std::string type = "text/plain; charset=utf-8";
        const std::string node = request.get("X-Ws2api-Node", "");
        const std::string id = uri.substr(1, uri.find('?') == std::string::npos ? std::string::npos : uri.find('?') - 1);
        if (uri == "/" && method == HTTPRequest::HTTP_POST && request.get("X-Ws2api-Report", "") == "live-set") {
            try {
                say(onLiveSetReport(body));
            } catch (const Poco::Exception& e) {
                say("bad live-set report: " + e.displayText());
                response.setStatusAndReason(HTTPResponse::HTTP_BAD_REQUEST);
                reply = "bad report\n";
            }
        } else if (method == HTTPRequest::HTTP_GET) {
            {
                std::lock_guard<std::mutex> lock(sessionsMutex);
                sessions[id] = DemoSession{node, std::chrono::steady_clock::now()};
            }
            say("GET " + uri + " from " + request.get("X-Forwarded-For", "?") + (node.empty() ? "" : " via " + node) +
                " -> ok (client accepted)");
        } else if (method == HTTPRequest::HTTP_POST) {
            reply = body;
            if (request.has("Content-Type")) type = request.getContentType();
            bool binary = type.rfind("application/octet-stream", 0) == 0;
            say("POST " + uri + " " + std::to_string(body.size()) + " bytes" + (binary ? " (binary)" : ": " + body) +
                " -> echoed");
        } else if (method == HTTPRequest::HTTP_DELETE) {
            std::string note;
            {
                std::lock_guard<std::mutex> lock(sessionsMutex);
                auto it = sessions.find(id);
                if (it != sessions.end() && !node.empty() && it->second.node != node)
                    note = " (ignored: the client is now on " + it->second.node + ")";
                else if (it != sessions.end())
                    sessions.erase(it);
            }
            say("DELETE " + uri + " reason: " + (body.empty() ? "(none)" : body) + (node.empty() ? "" : " from " + node) +
                note);
        } else {
            response.setStatusAndReason(HTTPResponse::HTTP_METHOD_NOT_ALLOWED);
            reply = "method not allowed\n";
        }
        response.setContentType(type);
        response.sendBuffer(reply.data(), reply.size());
    }
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    Poco::Net::HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override { return new DemoHandler; }
};

class DemoApi : public Poco::Util::ServerApplication {
protected:
    void defineOptions(Poco::Util::OptionSet& options) override
    {
        options.addOption(Poco::Util::Option("listen", "", "HOST:PORT to listen on (default 127.0.0.1:8000)")
                              .required(false).repeatable(false).argument("HOST:PORT"));
        options.addOption(Poco::Util::Option("quiet", "q", "do not log requests").required(false).repeatable(false));
        options.addOption(Poco::Util::Option("reconcile-grace-ms", "",
                                             "live-set reports: keep sessions accepted less than this long ago (default 2000)")
                              .required(false).repeatable(false).argument("MS"));
        options.addOption(Poco::Util::Option("help", "h", "print this help").required(false).repeatable(false));
    }
    void handleOption(const std::string& name, const std::string& value) override
    {
        if (name == "listen") listen_ = value;
        if (name == "quiet") quiet = true;
        if (name == "reconcile-grace-ms") reconcileGraceMs = Poco::NumberParser::parse(value);
        if (name == "help") {
            Poco::Util::HelpFormatter help(options());
            help.setCommand("ws2api-demo-api");
            help.setHeader("The example API for ws2api: accepts every client and echoes its messages.");
            help.format(std::cout);
            help_ = true;
            stopOptionsProcessing();
        }
    }
    int main(const std::vector<std::string>&) override
    {
        if (help_) return EXIT_OK;
        Poco::Net::ServerSocket socket;
        try {
            socket.bind(Poco::Net::SocketAddress(listen_), true, false);
            socket.listen(1024);
        } catch (const Poco::Exception& e) {
            std::cerr << "ws2api-demo-api: cannot listen on " << listen_ << ": " << e.displayText() << '\n';
            return EXIT_UNAVAILABLE;
        }
        // POCO's server holds a thread for each kept-alive connection, and the
        // bridge keeps up to upstream.max_connections of them: give it a pool of
        // its own (the default one has 16 threads) and let idle ones go after
        // 10 s (the bridge closes its idle ones after 4 s).
        auto* params = new Poco::Net::HTTPServerParams;
        params->setMaxQueued(1024);
        params->setMaxThreads(256);
        params->setKeepAliveTimeout(Poco::Timespan(10, 0));
        static Poco::ThreadPool pool(16, 256);
        Poco::Net::HTTPServer server(new Factory, pool, socket, params);
        server.start();
        say("ws2api-demo-api " + std::string(ws2api::kVersion) + " listening on http://" +
            socket.address().toString() + "/ (open it in a browser for a test page)");
        waitForTerminationRequest();
        server.stopAll(true);
        return EXIT_OK;
    }

private:
    std::string listen_ = "127.0.0.1:8000";
    bool help_ = false;
};

} // namespace

int main(int argc, char** argv)
{
    DemoApi app;
    try {
        app.init(argc, argv);
    } catch (const Poco::Exception& e) {
        std::cerr << "ws2api-demo-api: " << e.displayText() << '\n';
        return 64;
    }
    // ServerApplication::run() is protected; Application::run() is the same call.
    return static_cast<Poco::Util::Application&>(app).run();
}
