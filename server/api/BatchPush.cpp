#include "server/api/BatchPush.h"

#include "common/Json.h"

namespace ws2api {

namespace {
constexpr std::size_t kMaxIdField = 512; // far over a ClientId: a header line that long is not one
} // namespace

bool BatchPush::parse(std::string_view body, std::vector<Item>& items, std::string& error)
{
    std::size_t pos = 0;
    for (std::size_t n = 0; pos < body.size(); ++n) {
        const std::string where = "item " + std::to_string(n) + " (byte " + std::to_string(pos) + "): ";
        const std::size_t eol = body.find('\n', pos);
        if (eol == std::string_view::npos || eol - pos > kMaxIdField + 24) {
            error = where + "no '<ClientId> <t|b> <length>' line";
            return false;
        }
        std::string_view line = body.substr(pos, eol - pos);
        const std::size_t s1 = line.find(' ');
        const std::size_t s2 = s1 == std::string_view::npos ? s1 : line.find(' ', s1 + 1);
        if (s1 == 0 || s2 == std::string_view::npos || s2 != s1 + 2 || (line[s1 + 1] != 't' && line[s1 + 1] != 'b')) {
            error = where + "expected '<ClientId> <t|b> <length>', got '" + std::string(line.substr(0, 80)) + "'";
            return false;
        }
        std::string_view digits = line.substr(s2 + 1);
        if (digits.empty() || digits.size() > 12) {
            error = where + "bad length '" + std::string(digits.substr(0, 20)) + "'";
            return false;
        }
        std::size_t length = 0;
        for (char c : digits) {
            if (c < '0' || c > '9') {
                error = where + "bad length '" + std::string(digits.substr(0, 20)) + "'";
                return false;
            }
            length = length * 10 + static_cast<std::size_t>(c - '0');
        }
        const std::size_t start = eol + 1;
        if (length > body.size() - start || body.size() - start - length < 1 || body[start + length] != '\n') {
            error = where + "the body ends before its " + std::to_string(length) +
                    " bytes and the LF after them";
            return false;
        }
        Item item;
        item.clientId.assign(line.substr(0, s1));
        item.binary = line[s1 + 1] == 'b';
        item.payload.assign(body.substr(start, length));
        items.push_back(std::move(item));
        pos = start + length + 1;
    }
    return true;
}

void BatchPush::append(std::string& body, const std::string& clientId, bool binary, std::string_view payload)
{
    body += clientId;
    body += binary ? " b " : " t ";
    body += std::to_string(payload.size());
    body += '\n';
    body.append(payload);
    body += '\n';
}

const char* BatchPush::name(Result r)
{
    switch (r) {
    case Result::Delivered: return "delivered";
    case Result::NotFound: return "not_found";
    case Result::Full: return "full";
    case Result::Invalid: return "invalid";
    case Result::Unavailable: return "unavailable";
    }
    return "invalid";
}

bool BatchPush::fromName(std::string_view n, Result& r)
{
    for (Result c : {Result::Delivered, Result::NotFound, Result::Full, Result::Invalid, Result::Unavailable})
        if (n == name(c)) {
            r = c;
            return true;
        }
    return false;
}

std::string BatchPush::answer(const std::string& node, const std::vector<Result>& results,
                              const std::vector<std::pair<std::size_t, std::string>>& errors)
{
    std::size_t counts[5] = {};
    std::string list = "[";
    for (std::size_t i = 0; i < results.size(); ++i) {
        ++counts[static_cast<int>(results[i])];
        if (i) list += ',';
        list += '"';
        list += name(results[i]);
        list += '"';
    }
    list += ']';
    std::string errs = "[";
    for (std::size_t i = 0; i < errors.size(); ++i) {
        json::ObjectWriter e;
        e.integer("item", static_cast<long long>(errors[i].first)).str("error", errors[i].second);
        errs += (i ? "," : "") + e.done();
    }
    errs += ']';
    json::ObjectWriter w;
    w.str("node", node)
        .integer("items", static_cast<long long>(results.size()))
        .integer("delivered", static_cast<long long>(counts[0]))
        .integer("not_found", static_cast<long long>(counts[1]))
        .integer("full", static_cast<long long>(counts[2]))
        .integer("invalid", static_cast<long long>(counts[3]))
        .integer("unavailable", static_cast<long long>(counts[4]))
        .raw("results", list)
        .raw("errors", errs);
    return w.done();
}

} // namespace ws2api
