#include "server/loop/EventHub.h"

#include "common/Json.h"


namespace ws2api {

void EventHub::record(std::vector<std::string>& ids, std::uint64_t& count, const std::string& clientId)
{
    if (streams_.load(std::memory_order_relaxed) == 0) return; // nobody is watching
    std::lock_guard<std::mutex> lock(mutex_);
    ++count;
    if (ids.size() < kMaxIds) ids.push_back(clientId);
}

void EventHub::connected(const std::string& clientId) { record(connectedIds_, connectedCount_, clientId); }

void EventHub::disconnected(const std::string& clientId) { record(disconnectedIds_, disconnectedCount_, clientId); }

void EventHub::publish(const std::string& statsJson, double ts)
{
    auto batch = std::make_shared<Batch>();
    std::string tsText = json::number(ts);
    // statsJson is "{...}": splice the type and time in front of its fields.
    batch->stats = "{\"type\":\"stats\",\"ts\":" + tsText + (statsJson.size() > 2 ? "," : "") + statsJson.substr(1);
    std::lock_guard<std::mutex> lock(mutex_);
    if (connectedCount_ > 0 || disconnectedCount_ > 0) {
        std::string& c = batch->connections;
        c = "{\"type\":\"connections\",\"ts\":" + tsText + ",\"connected\":" + std::to_string(connectedCount_) +
            ",\"disconnected\":" + std::to_string(disconnectedCount_) + ",\"connected_ids\":" +
            json::stringArray(connectedIds_) + ",\"disconnected_ids\":" + json::stringArray(disconnectedIds_) +
            ",\"truncated\":" +
            (connectedCount_ > connectedIds_.size() || disconnectedCount_ > disconnectedIds_.size() ? "true"
                                                                                                  : "false") +
            "}";
        connectedCount_ = disconnectedCount_ = 0;
        connectedIds_.clear();
        disconnectedIds_.clear();
    }
    batch->seq = ++seq_;
    latest_ = std::move(batch);
}

std::shared_ptr<const EventHub::Batch> EventHub::latestAfter(std::uint64_t afterSeq)
{
    std::lock_guard<std::mutex> lock(mutex_);
    return latest_ && latest_->seq > afterSeq ? latest_ : nullptr;
}

std::shared_ptr<void> EventHub::openStream(int max)
{
    int n = streams_.load();
    do {
        if (n >= max) return nullptr;
    } while (!streams_.compare_exchange_weak(n, n + 1));
    // The hub outlives every stream (the Bridge owns it); the token only counts.
    return std::shared_ptr<void>(this, [](EventHub* hub) { hub->streams_.fetch_sub(1); });
}

} // namespace ws2api
