#include "server/api/ApiContext.h"

namespace ws2api {

GroupDelivery ApiContext::PendingGroupPush::wait(bool& complete)
{
    GroupDelivery sum;
    complete = true;
    for (auto& f : parts_) {
        if (f.wait_until(deadline_) != std::future_status::ready) {
            complete = false;
            continue;
        }
        sum += f.get();
    }
    return sum;
}

} // namespace ws2api
