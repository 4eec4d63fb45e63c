#include "console/core/Backoff.h"

#include <QRandomGenerator>

#include <algorithm>

namespace ws2api::console {

int Backoff::next()
{
    qint64 base = initialMs_;
    for (int i = 0; i < attempts_ && base < maxMs_; ++i) base *= 2;
    base = std::min<qint64>(base, maxMs_);
    ++attempts_;
    const int jitter = static_cast<int>(base / 5);
    const int delta = jitter > 0 ? static_cast<int>(QRandomGenerator::global()->bounded(2 * jitter + 1)) - jitter : 0;
    return static_cast<int>(std::clamp<qint64>(base + delta, 1, maxMs_));
}

} // namespace ws2api::console
