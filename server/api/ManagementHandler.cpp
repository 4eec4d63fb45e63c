#include "server/api/ManagementHandler.h"

#include "common/ClientId.h"
#include "common/Json.h"
#include "server/api/ApiContext.h"
#include "server/api/QueryParams.h"
#include "server/codec/Frame.h"
#include "server/codec/Utf8Validator.h"
#include "server/store/Store.h"

#include <Poco/Base64Decoder.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/String.h>
#include <Poco/URI.h>

#include <algorithm>
#include <chrono>
#include <istream>
#include <sstream>

namespace ws2api {

namespace {
using Poco::Net::HTTPRequest;
using Poco::Net::HTTPResponse;

constexpr int kLoopTimeoutMs = 5000;

/// A refused call: status + the message of {"error": ...}.
struct ApiError {
    HTTPResponse::HTTPStatus status;
    std::string message;
};

void sendJson(HttpResponse& response, HTTPResponse::HTTPStatus status, const std::string& body)
{
    response.setStatusAndReason(status);
    response.setContentType("application/json");
    response.body = body;
}

std::string errorJson(const std::string& message) { return json::ObjectWriter().str("error", message).done(); }

std::vector<std::string> split(const std::string& path)
{
    std::vector<std::string> parts;
    std::size_t i = 1;
    while (i <= path.size()) {
        std::size_t j = path.find('/', i);
        if (j == std::string::npos) j = path.size();
        parts.push_back(path.substr(i, j - i));
        i = j + 1;
    }
    if (!parts.empty() && parts.back().empty()) parts.pop_back(); // trailing slash
    return parts;
}

// The internal listener read the body already, within ManagementHandler::kMaxBodyBytes.
const std::string& readBody(const HttpRequest& request) { return request.body; }

Poco::JSON::Object::Ptr parseObject(const std::string& body)
{
    if (body.empty()) return new Poco::JSON::Object;
    try {
        Poco::JSON::Parser parser;
        Poco::Dynamic::Var v = parser.parse(body);
        if (v.type() != typeid(Poco::JSON::Object::Ptr))
            throw ApiError{HTTPResponse::HTTP_BAD_REQUEST, "the body must be a JSON object"};
        return v.extract<Poco::JSON::Object::Ptr>();
    } catch (const Poco::Exception& e) {
        throw ApiError{HTTPResponse::HTTP_BAD_REQUEST, "bad JSON: " + e.message()};
    }
}

std::string stringField(const Poco::JSON::Object& o, const std::string& name, bool required)
{
    if (!o.has(name)) {
        if (required) throw ApiError{HTTPResponse::HTTP_BAD_REQUEST, "missing field '" + name + "'"};
        return {};
    }
    Poco::Dynamic::Var v = o.get(name);
    if (v.isString()) return v.convert<std::string>();
    if (v.isNumeric() || v.isBoolean()) return v.convert<std::string>();
    throw ApiError{HTTPResponse::HTTP_BAD_REQUEST, "field '" + name + "' must be a string"};
}

long long intParam(const Poco::URI::QueryParameters& q, const std::string& name, long long def, long long min,
                   long long max)
{
    try {
        return queryInt(q, name, def, min, max);
    } catch (const QueryParamError& e) {
        throw ApiError{HTTPResponse::HTTP_BAD_REQUEST, e.message};
    }
}

std::string clientIdFrom(const std::string& raw)
{
    std::string id, why;
    if (!ClientId::parse(raw, id, why)) throw ApiError{HTTPResponse::HTTP_BAD_REQUEST, why};
    return id;
}

std::string connectionJson(const ConnectionInfo& c)
{
    return json::ObjectWriter()
        .str("client_id", c.clientId)
        .str("remote", c.remote)
        .num("connected_at", static_cast<double>(c.connectedAtMs) / 1000.0)
        .num("last_activity", static_cast<double>(c.lastActivityMs) / 1000.0)
        .integer("messages_in", static_cast<long long>(c.messagesIn))
        .integer("messages_out", static_cast<long long>(c.messagesOut))
        .integer("bytes_in", static_cast<long long>(c.bytesIn))
        .integer("bytes_out", static_cast<long long>(c.bytesOut))
        .integer("queued_bytes", static_cast<long long>(c.queuedBytes))
        .integer("pending_upstream", c.pendingUpstream)
        .str("subprotocol", c.subprotocol)
        .raw("groups", json::stringArray(c.groups))
        .done();
}

std::string rowJson(const StatsRow& r)
{
    return json::ObjectWriter()
        .integer("ts", r.ts)
        .integer("resolution", r.resolution)
        .integer("connections_open", r.connectionsOpen)
        .integer("connections_opened", r.connectionsOpened)
        .integer("connections_closed", r.connectionsClosed)
        .integer("messages_in", r.messagesIn)
        .integer("messages_out", r.messagesOut)
        .integer("pushes", r.pushes)
        .integer("pushes_failed", r.pushesFailed)
        .integer("upstream_ok", r.upstreamOk)
        .integer("upstream_failed", r.upstreamFailed)
        .integer("upstream_queued", r.upstreamQueued)
        .num("upstream_p50_ms", r.upstreamP50Ms)
        .num("upstream_p99_ms", r.upstreamP99Ms)
        .done();
}

const char* typeName(KeyType t)
{
    switch (t) {
    case KeyType::Int: return "int";
    case KeyType::Bool: return "bool";
    case KeyType::String: return "string";
    }
    return "string";
}

/// "applied" of PUT/DELETE /api/v1/config/<key> (the value was validated before).
const char* appliedName(Config::Applied applied)
{
    switch (applied) {
    case Config::Applied::Now: return "live";
    case Config::Applied::AtRestart: return "restart";
    case Config::Applied::Overridden: return "overridden";
    case Config::Applied::Invalid: break;
    }
    return "invalid";
}

std::int64_t nowSeconds()
{
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// Runs a store call for the API: a store failure becomes 503 with its reason.
template <class F>
auto storeCall(ApiContext& bridge, F&& fn)
{
    try {
        return bridge.withStore(std::forward<F>(fn));
    } catch (const StoreError& e) {
        throw ApiError{HTTPResponse::HTTP_SERVICE_UNAVAILABLE, e.what()};
    }
}

class Api {
public:
    Api(ApiContext& bridge, const HttpRequest& request, std::string actor)
        : bridge_(bridge), request_(request), actor_("token:" + std::move(actor)),
          query_(Poco::URI(request.getURI()).getQueryParameters())
    {
    }

    /// Returns the status and JSON body for parts = path segments after /api/v1.
    std::pair<HTTPResponse::HTTPStatus, std::string> route(const std::vector<std::string>& parts)
    {
        const std::string& method = request_.getMethod();
        auto only = [&](const std::string& allowed) {
            if (method != allowed) throw ApiError{HTTPResponse::HTTP_METHOD_NOT_ALLOWED, "use " + allowed};
        };
        if (parts.size() == 1 && parts[0] == "stats") {
            only(HTTPRequest::HTTP_GET);
            return ok(bridge_.statsJson());
        }
        if (parts.size() == 2 && parts[0] == "stats" && parts[1] == "history") {
            only(HTTPRequest::HTTP_GET);
            return history();
        }
        if (parts.size() == 1 && parts[0] == "connections") {
            only(HTTPRequest::HTTP_GET);
            return connections();
        }
        if (parts.size() == 2 && parts[0] == "connections") {
            only(HTTPRequest::HTTP_GET);
            std::string id = clientIdFrom(parts[1]);
            auto info = bridge_.connectionInfo(id, kLoopTimeoutMs);
            if (!info) throw ApiError{HTTPResponse::HTTP_NOT_FOUND, "not connected here"};
            return ok(connectionJson(*info));
        }
        if (parts.size() == 3 && parts[0] == "connections" && parts[2] == "push") {
            only(HTTPRequest::HTTP_POST);
            return push(clientIdFrom(parts[1]));
        }
        if (parts.size() == 3 && parts[0] == "connections" && parts[2] == "disconnect") {
            only(HTTPRequest::HTTP_POST);
            return disconnect(clientIdFrom(parts[1]));
        }
        if (parts.size() == 1 && parts[0] == "groups") {
            only(HTTPRequest::HTTP_GET);
            return groupList();
        }
        if (parts.size() == 2 && parts[0] == "groups") {
            only(HTTPRequest::HTTP_GET);
            return groupMembers(groupFrom(parts[1]));
        }
        if (parts.size() == 3 && parts[0] == "groups" && parts[2] == "push") {
            only(HTTPRequest::HTTP_POST);
            return groupPush(GroupName::isEveryone(parts[1]) ? std::string() : groupFrom(parts[1]));
        }
        if (parts.size() == 1 && parts[0] == "config") {
            only(HTTPRequest::HTTP_GET);
            return configList();
        }
        if (parts.size() == 2 && parts[0] == "config") {
            const KeyInfo* key = findKey(parts[1]);
            if (!key) throw ApiError{HTTPResponse::HTTP_NOT_FOUND, "unknown configuration key '" + parts[1] + "'"};
            if (method == HTTPRequest::HTTP_PUT) return configSet(*key);
            if (method == HTTPRequest::HTTP_DELETE) return configReset(*key);
            if (method == HTTPRequest::HTTP_GET) return ok(keyJson(*key, storedValues()));
            throw ApiError{HTTPResponse::HTTP_METHOD_NOT_ALLOWED, "use GET, PUT or DELETE"};
        }
        if (parts.size() == 1 && parts[0] == "tls") {
            only(HTTPRequest::HTTP_GET);
            return tls();
        }
        if (parts.size() == 2 && parts[0] == "tls" && parts[1] == "reload") {
            only(HTTPRequest::HTTP_POST);
            return tlsReload();
        }
        if (parts.size() == 1 && parts[0] == "audit") {
            only(HTTPRequest::HTTP_GET);
            return audit();
        }
        throw ApiError{HTTPResponse::HTTP_NOT_FOUND, "no such management call (see docs/API.md)"};
    }

private:
    static std::pair<HTTPResponse::HTTPStatus, std::string> ok(std::string body)
    {
        return {HTTPResponse::HTTP_OK, std::move(body)};
    }

    std::pair<HTTPResponse::HTTPStatus, std::string> history()
    {
        const long long now = nowSeconds();
        long long to = intParam(query_, "to", now + 1, 0, 1LL << 40);
        long long from = intParam(query_, "from", to - 3600, 0, 1LL << 40);
        if (from >= to) throw ApiError{HTTPResponse::HTTP_BAD_REQUEST, "from must be before to"};
        int resolution = static_cast<int>(intParam(query_, "resolution", 1, 1, 86400 * 366));
        std::vector<StatsRow> rows =
            storeCall(bridge_, [&](Store& s) { return s.statsHistory(from, to, resolution, 2000); });
        std::string points = "[";
        for (std::size_t i = 0; i < rows.size(); ++i) {
            if (i) points += ',';
            points += rowJson(rows[i]);
        }
        points += ']';
        int used = rows.empty() ? resolution : rows.front().resolution;
        return ok(json::ObjectWriter()
                      .integer("from", from)
                      .integer("to", to)
                      .integer("resolution", used)
                      .raw("points", points)
                      .done());
    }

    std::pair<HTTPResponse::HTTPStatus, std::string> connections()
    {
        const std::string sort = queryString(query_, "sort", "id");
        if (sort != "id" && sort != "age" && sort != "idle" && sort != "traffic")
            throw ApiError{HTTPResponse::HTTP_BAD_REQUEST, "sort must be id, age, idle or traffic"};
        const std::string order = queryString(query_, "order", sort == "traffic" ? "desc" : "asc");
        if (order != "asc" && order != "desc") throw ApiError{HTTPResponse::HTTP_BAD_REQUEST, "order must be asc or desc"};
        const long long offset = intParam(query_, "offset", 0, 0, 1LL << 40);
        const long long limit = intParam(query_, "limit", 100, 1, 1000);
        ConnectionQuery q;
        q.idPrefix = queryString(query_, "prefix");
        q.remotePrefix = queryString(query_, "remote");
        q.sort = sort == "age"       ? ConnectionQuery::Sort::Age
                 : sort == "idle"    ? ConnectionQuery::Sort::Idle
                 : sort == "traffic" ? ConnectionQuery::Sort::Traffic
                                     : ConnectionQuery::Sort::Id;
        q.descending = order == "desc";
        q.offset = static_cast<std::size_t>(offset);
        q.limit = static_cast<std::size_t>(limit);
        auto [total, page] = bridge_.listConnections(q, kLoopTimeoutMs);
        std::string items = "[";
        for (std::size_t i = 0; i < page.size(); ++i) {
            if (i) items += ',';
            items += connectionJson(page[i]);
        }
        items += ']';
        return ok(json::ObjectWriter()
                      .integer("total", static_cast<long long>(total))
                      .integer("offset", offset)
                      .integer("limit", limit)
                      .raw("items", items)
                      .done());
    }

    /// The message of a push call: exactly one of "text" or "binary_base64".
    std::string messageFrom(const Poco::JSON::Object& o, bool& binary)
    {
        const bool hasText = o.has("text");
        binary = o.has("binary_base64");
        if (hasText == binary)
            throw ApiError{HTTPResponse::HTTP_BAD_REQUEST, "send exactly one of 'text' or 'binary_base64'"};
        std::string payload;
        if (hasText) {
            payload = stringField(o, "text", true);
        } else {
            std::istringstream in(stringField(o, "binary_base64", true));
            Poco::Base64Decoder decoder(in);
            try {
                payload.assign(std::istreambuf_iterator<char>(decoder), std::istreambuf_iterator<char>());
            } catch (const Poco::Exception& e) {
                throw ApiError{HTTPResponse::HTTP_BAD_REQUEST, "binary_base64 is not base64: " + e.message()};
            }
        }
        if (payload.size() > static_cast<std::size_t>(bridge_.config().getInt(KeyId::LimitsMaxMessageBytes)))
            throw ApiError{HTTPResponse::HTTP_REQUEST_ENTITY_TOO_LARGE, "message larger than limits.max_message_bytes"};
        return payload;
    }

    static std::string groupFrom(const std::string& raw)
    {
        std::string name, why;
        if (!GroupName::parse(raw, name, why)) throw ApiError{HTTPResponse::HTTP_BAD_REQUEST, why};
        return name;
    }

    std::pair<HTTPResponse::HTTPStatus, std::string> groupList()
    {
        const long long offset = intParam(query_, "offset", 0, 0, 1LL << 40);
        const long long limit = intParam(query_, "limit", 100, 1, 1000);
        auto all = bridge_.groups().list(queryString(query_, "prefix"));
        std::string items = "[";
        for (long long i = offset; i < static_cast<long long>(all.size()) && i < offset + limit; ++i) {
            const auto& [name, n] = all[static_cast<std::size_t>(i)];
            items += (items.size() > 1 ? "," : "") +
                     json::ObjectWriter().str("group", name).integer("members", static_cast<long long>(n)).done();
        }
        items += ']';
        return ok(json::ObjectWriter()
                      .integer("total", static_cast<long long>(all.size()))
                      .integer("offset", offset)
                      .integer("limit", limit)
                      .raw("items", items)
                      .done());
    }

    std::pair<HTTPResponse::HTTPStatus, std::string> groupMembers(const std::string& group)
    {
        const long long offset = intParam(query_, "offset", 0, 0, 1LL << 40);
        const long long limit = intParam(query_, "limit", 1000, 1, 100000);
        std::vector<std::string> members = bridge_.groupMembers(group, kLoopTimeoutMs);
        std::vector<std::string> page;
        for (long long i = offset; i < static_cast<long long>(members.size()) && i < offset + limit; ++i)
            page.push_back(members[static_cast<std::size_t>(i)]);
        return ok(json::ObjectWriter()
                      .str("group", group)
                      .integer("total", static_cast<long long>(members.size()))
                      .integer("offset", offset)
                      .integer("limit", limit)
                      .raw("members", json::stringArray(page))
                      .done());
    }

    /// The console's "send test push" to a group ("" = everyone): this bridge only.
    std::pair<HTTPResponse::HTTPStatus, std::string> groupPush(const std::string& group)
    {
        Poco::JSON::Object::Ptr o = parseObject(readBody(request_));
        bool binary = false;
        std::string payload = messageFrom(*o, binary);
        std::vector<std::string> exclude;
        if (o->has("exclude")) {
            Poco::JSON::Array::Ptr list = o->getArray("exclude");
            if (!list) throw ApiError{HTTPResponse::HTTP_BAD_REQUEST, "exclude must be an array of ClientIds"};
            for (std::size_t i = 0; i < list->size(); ++i) {
                std::string id = list->getElement<std::string>(static_cast<unsigned>(i));
                if (!ClientId::isValid(id)) throw ApiError{HTTPResponse::HTTP_BAD_REQUEST, "exclude: not a ClientId: " + id};
                exclude.push_back(id);
            }
        }
        bool complete = true;
        GroupDelivery d = bridge_.startGroupPush(group, payload, binary, exclude, kLoopTimeoutMs).wait(complete);
        bridge_.auditQuietly(actor_, "group push", group.empty() ? "*" : group,
                                      std::string(binary ? "binary " : "text ") + std::to_string(payload.size()) +
                                          " bytes: delivered " + std::to_string(d.delivered) + ", full " +
                                          std::to_string(d.full));
        return ok(json::ObjectWriter()
                      .str("group", group.empty() ? "*" : group)
                      .integer("delivered", static_cast<long long>(d.delivered))
                      .integer("full", static_cast<long long>(d.full))
                      .integer("excluded", static_cast<long long>(d.excluded))
                      .integer("absent", static_cast<long long>(d.absent))
                      .boolean("complete", complete)
                      .done());
    }

    std::pair<HTTPResponse::HTTPStatus, std::string> push(const std::string& clientId)
    {
        Poco::JSON::Object::Ptr o = parseObject(readBody(request_));
        bool hasBinary = false;
        std::string payload = messageFrom(*o, hasBinary);
        const std::size_t size = payload.size();
        Metrics& m = bridge_.metrics();
        ApiContext::PushResult r = bridge_.push(clientId, std::move(payload), hasBinary, kLoopTimeoutMs);
        HTTPResponse::HTTPStatus status = HTTPResponse::HTTP_OK;
        std::string result, error;
        switch (r) {
        case ApiContext::PushResult::Delivered:
            m.pushesDelivered.fetch_add(1, std::memory_order_relaxed);
            result = "delivered";
            break;
        case ApiContext::PushResult::NotFound:
            m.pushesNotFound.fetch_add(1, std::memory_order_relaxed);
            status = HTTPResponse::HTTP_NOT_FOUND;
            result = "not_found";
            error = "not connected here";
            break;
        case ApiContext::PushResult::ClientNotReading:
            m.pushesFailed.fetch_add(1, std::memory_order_relaxed);
            status = HTTPResponse::HTTP_SERVICE_UNAVAILABLE;
            result = "queue_full";
            error = "client is not reading: outbound queue over limits.max_outbound_bytes";
            break;
        case ApiContext::PushResult::Timeout:
            m.pushesFailed.fetch_add(1, std::memory_order_relaxed);
            status = HTTPResponse::HTTP_SERVICE_UNAVAILABLE;
            result = "timeout";
            error = "the bridge did not answer in time";
            break;
        }
        bridge_.auditQuietly(actor_, "push", clientId,
                                      std::string(hasBinary ? "binary " : "text ") + std::to_string(size) +
                                          " bytes: " + result);
        json::ObjectWriter w;
        w.str("result", result);
        if (!error.empty()) w.str("error", error);
        return {status, w.done()};
    }

    std::pair<HTTPResponse::HTTPStatus, std::string> disconnect(const std::string& clientId)
    {
        Poco::JSON::Object::Ptr o = parseObject(readBody(request_));
        long long code = 1000;
        if (o->has("code")) {
            Poco::Dynamic::Var v = o->get("code");
            if (!v.isInteger()) throw ApiError{HTTPResponse::HTTP_BAD_REQUEST, "code must be an integer"};
            code = v.convert<long long>();
        }
        if (!(code == 1000 || code == 1001 || code == 1008 || (code >= 3000 && code <= 4999)))
            throw ApiError{HTTPResponse::HTTP_BAD_REQUEST, "code must be 1000, 1001, 1008 or 3000-4999"};
        std::string reason = stringField(*o, "reason", false);
        if (reason.size() > 123) throw ApiError{HTTPResponse::HTTP_BAD_REQUEST, "reason is longer than 123 bytes"};
        codec::Utf8Validator utf8;
        if (!utf8.feed(reason.data(), reason.size()) || !utf8.complete())
            throw ApiError{HTTPResponse::HTTP_BAD_REQUEST, "reason is not UTF-8"};
        bool found = bridge_.disconnect(clientId, static_cast<std::uint16_t>(code), reason, kLoopTimeoutMs);
        bridge_.auditQuietly(actor_, "disconnect", clientId,
                                      std::to_string(code) + " " + reason + (found ? "" : " (not connected)"));
        if (!found) throw ApiError{HTTPResponse::HTTP_NOT_FOUND, "not connected here"};
        return ok(json::ObjectWriter().str("result", "closing").done());
    }

    /// The certificate new wss:// connections get (GET /api/v1/tls).
    std::string tlsJson()
    {
        std::optional<TlsCertificateInfo> cert = bridge_.tlsCertificate();
        json::ObjectWriter w;
        w.boolean("enabled", cert.has_value());
        if (cert) {
            w.str("cert_file", bridge_.config().getString(KeyId::TlsCertFile))
                .str("key_file", bridge_.config().getString(KeyId::TlsKeyFile))
                .str("subject", cert->subject)
                .str("issuer", cert->issuer)
                .str("serial", cert->serial)
                .integer("not_after", cert->notAfter);
        }
        return w.done();
    }

    std::pair<HTTPResponse::HTTPStatus, std::string> tls() { return ok(tlsJson()); }

    /// POST /api/v1/tls/reload: reads the certificate and key files again, like SIGHUP.
    std::pair<HTTPResponse::HTTPStatus, std::string> tlsReload()
    {
        if (!bridge_.tlsEnabled())
            throw ApiError{HTTPResponse::HTTP_CONFLICT, "TLS is off: tls.cert_file and tls.key_file are not set"};
        std::string message;
        const bool done = bridge_.reloadTls(message);
        bridge_.auditQuietly(actor_, "tls.reload", bridge_.config().getString(KeyId::TlsCertFile),
                                      done ? bridge_.tlsDescription() : message);
        if (!done) throw ApiError{HTTPResponse::HTTP_UNPROCESSABLE_ENTITY, message};
        return ok(tlsJson());
    }

    std::vector<StoredValue> storedValues()
    {
        try {
            return bridge_.withStore([](Store& s) { return s.configValues(); });
        } catch (const StoreError&) {
            return {}; // shown without the stored values; "store_ok": false says why
        }
    }

    std::string keyJson(const KeyInfo& k, const std::vector<StoredValue>& stored)
    {
        Config& config = bridge_.config();
        const StoredValue* sv = nullptr;
        for (const auto& v : stored)
            if (v.key == k.name) sv = &v;
        const bool secret = k.id == KeyId::PushToken;
        std::string value = config.toText(k.id);
        if (secret) value = value.empty() ? "" : "(set)";
        const bool restartNeeded =
            !k.live && sv && config.source(k.id) != Config::Source::CommandLine && sv->value != config.toText(k.id);
        json::ObjectWriter w;
        w.str("name", k.name)
            .str("type", typeName(k.type))
            .str("value", value)
            .str("default", k.defaultValue)
            .integer("min", k.min)
            .integer("max", k.max)
            .boolean("live", k.live)
            .str("source", Config::sourceName(config.source(k.id)))
            .raw("stored_value", sv ? json::quote(secret ? "(set)" : sv->value) : "null")
            .str("changed_by", sv ? sv->changedBy : "")
            .integer("changed_at", sv ? sv->changedAt : 0)
            .boolean("restart_needed", restartNeeded)
            .str("help", k.help);
        if (k.replacedBy) w.str("replaced_by", k.replacedBy);
        return w.done();
    }

    std::pair<HTTPResponse::HTTPStatus, std::string> configList()
    {
        bool storeOk = true;
        std::vector<StoredValue> stored;
        try {
            stored = bridge_.withStore([](Store& s) { return s.configValues(); });
        } catch (const StoreError&) {
            storeOk = false;
        }
        std::string keys = "[";
        for (int i = 0; i < kKeyCount; ++i) {
            if (i) keys += ',';
            keys += keyJson(configKeys()[i], stored);
        }
        keys += ']';
        return ok(json::ObjectWriter().raw("keys", keys).boolean("store_ok", storeOk).done());
    }

    std::pair<HTTPResponse::HTTPStatus, std::string> configSet(const KeyInfo& key)
    {
        Poco::JSON::Object::Ptr o = parseObject(readBody(request_));
        const std::string value = stringField(*o, "value", true);
        std::string error;
        if (!Config::validate(key, value, error)) throw ApiError{HTTPResponse::HTTP_BAD_REQUEST, error};
        Config& config = bridge_.config();
        const bool secret = key.id == KeyId::PushToken;
        const std::string old = secret ? "(hidden)" : config.toText(key.id);
        storeCall(bridge_, [&](Store& s) {
            s.setConfigValue(key.name, value, actor_);
            s.audit(actor_, "config.set", key.name, old + " -> " + (secret ? "(hidden)" : value));
        });
        const std::string applied = appliedName(config.applyStored(key, &value, true, error));
        json::ObjectWriter answer;
        answer.str("name", key.name).str("value", secret ? "(set)" : value).str("applied", applied);
        if (key.replacedBy) answer.str("warning", retiredKeyWarning(key));
        return ok(answer.done());
    }

    std::pair<HTTPResponse::HTTPStatus, std::string> configReset(const KeyInfo& key)
    {
        Config& config = bridge_.config();
        bool removed = storeCall(bridge_, [&](Store& s) {
            bool r = s.resetConfigValue(key.name);
            if (r) s.audit(actor_, "config.reset", key.name, std::string("-> default ") + key.defaultValue);
            return r;
        });
        if (!removed) throw ApiError{HTTPResponse::HTTP_NOT_FOUND, std::string(key.name) + " has no stored value"};
        std::string error;
        const std::string applied = appliedName(config.applyStored(key, nullptr, true, error));
        return ok(json::ObjectWriter()
                      .str("name", key.name)
                      .str("value", key.defaultValue)
                      .str("applied", applied)
                      .done());
    }

    std::pair<HTTPResponse::HTTPStatus, std::string> audit()
    {
        const int limit = static_cast<int>(intParam(query_, "limit", 100, 1, 1000));
        const long long before = intParam(query_, "before", 0, 0, 1LL << 62);
        std::vector<AuditEntry> entries = storeCall(bridge_, [&](Store& s) { return s.auditLog(limit, before); });
        std::string items = "[";
        for (std::size_t i = 0; i < entries.size(); ++i) {
            if (i) items += ',';
            const AuditEntry& e = entries[i];
            items += json::ObjectWriter()
                         .integer("id", e.id)
                         .integer("ts", e.ts)
                         .str("actor", e.actor)
                         .str("action", e.action)
                         .str("target", e.target)
                         .str("detail", e.detail)
                         .done();
        }
        items += ']';
        return ok(json::ObjectWriter().raw("entries", items).done());
    }

    ApiContext& bridge_;
    const HttpRequest& request_;
    const std::string actor_;
    const Poco::URI::QueryParameters query_;
};

/// Checks the token; answers 401 itself and returns nullopt when it is not good.
std::optional<std::string> checkToken(ApiContext& bridge, const HttpRequest& request, HttpResponse& response)
{
    std::string error;
    std::optional<std::string> name = bridge.auth().check(request.get("Authorization", ""), error);
    if (!name) {
        bridge.metrics().authFailures.fetch_add(1, std::memory_order_relaxed);
        response.set("WWW-Authenticate", "Bearer realm=\"ws2api management\"");
        response.setKeepAlive(false); // a caller without a token is not kept
        sendJson(response, HTTPResponse::HTTP_UNAUTHORIZED, errorJson(error));
    }
    return name;
}
} // namespace

ManagementHandler::ManagementHandler(ApiContext& bridge, std::string path) : bridge_(bridge), path_(std::move(path)) {}

void ManagementHandler::handle(const HttpRequest& request, HttpResponse& response)
{
    bridge_.metrics().managementRequests.fetch_add(1, std::memory_order_relaxed);
    std::optional<std::string> token = checkToken(bridge_, request, response);
    if (!token) return;
    std::vector<std::string> parts = split(path_);
    parts.erase(parts.begin(), parts.begin() + std::min<std::size_t>(2, parts.size())); // "api", "v1"
    try {
        Api api(bridge_, request, *token);
        auto [status, body] = api.route(parts);
        sendJson(response, status, body);
    } catch (const ApiError& e) {
        sendJson(response, e.status, errorJson(e.message));
    } catch (const Poco::SyntaxException& e) { // a query string Poco::URI cannot decode
        sendJson(response, HTTPResponse::HTTP_BAD_REQUEST, errorJson("bad request: " + e.message()));
    }
}

bool ManagementHandler::authenticate(ApiContext& bridge, const HttpRequest& request, HttpResponse& response)
{
    return checkToken(bridge, request, response).has_value();
}

} // namespace ws2api
