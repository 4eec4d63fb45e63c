#pragma once
// The file keys' "credential:NAME" rule (tls.*, internal.tls.*, upstream.* files;
// docs/SECURITY.md): "credential:NAME" names $CREDENTIALS_DIRECTORY/NAME, the
// directory systemd's LoadCredential= fills; any other value is a path as it is.
// One rule for every key that names a file, next to the configuration.
#include <string>
#include <string_view>

namespace ws2api {

/// The file `value` of `key` names; false with a one-line reason (naming the key) when it names none.
bool resolveCredentialPath(std::string_view key, const std::string& value, std::string& path, std::string& error);

} // namespace ws2api
