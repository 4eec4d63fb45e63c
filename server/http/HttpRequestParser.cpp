#include "server/http/HttpRequestParser.h"

#include <http_parser.h>

#include <strings.h>

namespace ws2api {

namespace {
HttpRequestParser* self(http_parser* p) { return static_cast<HttpRequestParser*>(p->data); }
constexpr int kStop = -1;
constexpr std::size_t kHeaderLineOverhead = 4;
} // namespace

const http_parser_settings& HttpRequestParser::settings()
{
    static const http_parser_settings s = [] {
        http_parser_settings v;
        http_parser_settings_init(&v);
        v.on_message_begin = &HttpRequestParser::onMessageBegin;
        v.on_url = &HttpRequestParser::onUrl;
        v.on_header_field = &HttpRequestParser::onHeaderField;
        v.on_header_value = &HttpRequestParser::onHeaderValue;
        v.on_headers_complete = &HttpRequestParser::onHeadersComplete;
        v.on_body = &HttpRequestParser::onBody;
        v.on_message_complete = &HttpRequestParser::onMessageComplete;
        v.on_chunk_header = &HttpRequestParser::onChunkHeader;
        return v;
    }();
    return s;
}

HttpRequestParser::HttpRequestParser(std::size_t maxHeadBytes, BodyLimit bodyLimit)
    : parser_(std::make_unique<http_parser>()), maxHeadBytes_(maxHeadBytes), bodyLimit_(std::move(bodyLimit))
{
    http_parser_init(parser_.get(), HTTP_REQUEST);
    parser_->data = this;
}

HttpRequestParser::~HttpRequestParser() = default;

HttpRequestParser::Status HttpRequestParser::feed(const char* data, std::size_t size, std::size_t& consumed)
{
    consumed = 0;
    if (state_ != Status::NeedMore || size == 0) return state_;
    parser_->data = this;
    consumed = http_parser_execute(parser_.get(), &settings(), data, size);
    if (state_ == Status::Complete) {
        // An upgrade stops the parser by itself (no pause): the rest is not HTTP.
        if (parser_->upgrade) request_.upgrade = true;
        return state_;
    }
    if (state_ == Status::Error) return state_;
    const auto err = HTTP_PARSER_ERRNO(parser_.get());
    if (err != HPE_OK) {
        fail(err == HPE_INVALID_VERSION ? 505 : err == HPE_INVALID_METHOD ? 501 : 400,
             std::string("malformed HTTP request: ") + http_errno_description(err));
        return state_;
    }
    return state_;
}

HttpRequest HttpRequestParser::take()
{
    HttpRequest out = std::move(request_);
    request_ = HttpRequest();
    state_ = Status::NeedMore;
    started_ = false;
    expectContinue_ = false;
    if (!out.upgrade) http_parser_pause(parser_.get(), 0);
    return out;
}

bool HttpRequestParser::takeExpectContinue()
{
    const bool wanted = expectContinue_;
    expectContinue_ = false;
    return wanted;
}

bool HttpRequestParser::countHead(std::size_t len)
{
    headBytes_ += len;
    if (headBytes_ <= maxHeadBytes_) return true;
    fail(431, "request head larger than " + std::to_string(maxHeadBytes_) + " bytes (limits.max_handshake_bytes)");
    return false;
}

int HttpRequestParser::fail(int status, std::string message)
{
    if (error_.empty()) {
        error_ = std::move(message);
        errorStatus_ = status;
    }
    state_ = Status::Error;
    return kStop;
}

int HttpRequestParser::tooLarge()
{
    if (overCounter_ && state_ != Status::Error) overCounter_->fetch_add(1, std::memory_order_relaxed);
    return fail(413, std::string("body larger than ") + maxBodyName_ + " (" + std::to_string(maxBody_) + " bytes)");
}

int HttpRequestParser::onMessageBegin(http_parser* p)
{
    HttpRequestParser* s = self(p);
    s->started_ = true;
    s->lastWasValue_ = true;
    s->inTrailers_ = false;
    s->headBytes_ = 0;
    return 0;
}

int HttpRequestParser::onUrl(http_parser* p, const char* at, std::size_t len)
{
    HttpRequestParser* s = self(p);
    if (!s->countHead(len)) return kStop;
    s->request_.target.append(at, len);
    return 0;
}

int HttpRequestParser::onHeaderField(http_parser* p, const char* at, std::size_t len)
{
    HttpRequestParser* s = self(p);
    if (s->lastWasValue_) {
        s->lastWasValue_ = false;
        if (!s->countHead(kHeaderLineOverhead)) return kStop;
        if (!s->inTrailers_) s->request_.headers.emplace_back();
    }
    if (!s->countHead(len)) return kStop;
    if (!s->inTrailers_) s->request_.headers.back().first.append(at, len);
    return 0;
}

int HttpRequestParser::onHeaderValue(http_parser* p, const char* at, std::size_t len)
{
    HttpRequestParser* s = self(p);
    s->lastWasValue_ = true;
    if (!s->countHead(len)) return kStop;
    if (!s->inTrailers_ && !s->request_.headers.empty()) s->request_.headers.back().second.append(at, len);
    return 0;
}

int HttpRequestParser::onHeadersComplete(http_parser* p)
{
    HttpRequestParser* s = self(p);
    HttpRequest& r = s->request_;
    s->lastWasValue_ = true;
    s->inTrailers_ = true;
    r.method = http_method_str(static_cast<http_method>(p->method));
    const std::size_t q = r.target.find('?');
    r.path = r.target.substr(0, q);
    r.query = q == std::string::npos ? std::string() : r.target.substr(q + 1);
    if (p->http_major != 1) return s->fail(505, "only HTTP/1.x is spoken here");
    r.httpMinor = p->http_minor;
    r.keepAlive = http_should_keep_alive(p) != 0;
    r.chunked = (p->flags & F_CHUNKED) != 0;
    const BodyBound bound = s->bodyLimit_ ? s->bodyLimit_(r) : BodyBound{};
    s->maxBody_ = bound.bytes;
    s->maxBodyName_ = bound.name;
    s->overCounter_ = bound.overCounter;
    const bool hasBody = r.chunked || ((p->flags & F_CONTENTLENGTH) && p->content_length > 0);
    if (!r.chunked && (p->flags & F_CONTENTLENGTH) && p->content_length > s->maxBody_)
        return s->tooLarge();
    if (hasBody) {
        const std::string* expect = r.find("Expect");
        if (expect && ::strcasecmp(expect->c_str(), "100-continue") == 0) s->expectContinue_ = true;
    }
    return 0;
}

int HttpRequestParser::onChunkHeader(http_parser* p)
{
    HttpRequestParser* s = self(p);
    if (p->content_length > s->maxBody_ - s->request_.body.size())
        return s->tooLarge();
    return 0;
}

int HttpRequestParser::onBody(http_parser* p, const char* at, std::size_t len)
{
    HttpRequestParser* s = self(p);
    if (len > s->maxBody_ - s->request_.body.size())
        return s->tooLarge();
    s->request_.body.append(at, len);
    return 0;
}

int HttpRequestParser::onMessageComplete(http_parser* p)
{
    HttpRequestParser* s = self(p);
    s->state_ = Status::Complete;
    s->expectContinue_ = false; // the body is here already
    // One request at a time: http_parser_execute() returns right after its last byte.
    if (!p->upgrade) http_parser_pause(p, 1);
    return 0;
}

} // namespace ws2api
