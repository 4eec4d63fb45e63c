# Install rules and CPack configuration for the .deb and .rpm packages.
# Included at the end of the top-level CMakeLists.txt.
#
#   cmake -S . -B build-pkg -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
#         -DCMAKE_INSTALL_PREFIX=/usr -DWS2API_BUILD_TESTS=OFF
#   cmake --build build-pkg -j1
#   (cd build-pkg && cpack -G DEB && cpack -G RPM)
# packaging/check-rpm.sh does this (and compares the two formats).
#
# Components (one package each):
#   server  -> package "ws2api" (bridge, demo API, unit, defaults, docs)
#   console -> package "ws2api-console" (the Qt console: binary, .desktop
#              file, icons, CONSOLE.md; install rules in console/CMakeLists.txt;
#              man page, changelog, copyright here). Packaged when the console
#              is built (WS2API_BUILD_CONSOLE).
#
# Both packages come from one (notional) source package "ws2api" and share
# its changelog and copyright.

include(GNUInstallDirs)

set(WS2API_PACKAGE_VERSION "${PROJECT_VERSION}" CACHE STRING
    "Version of the .deb/.rpm packages (upstream part)")
set(WS2API_PACKAGE_RELEASE "1" CACHE STRING
    "Package release: Debian revision / RPM Release")
set(WS2API_PACKAGE_CONTACT "ws2api maintainers <ws2api@example.org>" CACHE STRING
    "Maintainer of the packages (Debian Maintainer, RPM Packager)")
if(WS2API_BUILD_CONSOLE)
  set(_ws2api_default_components "server;console")
else()
  set(_ws2api_default_components "server")
endif()
set(WS2API_PACKAGE_COMPONENTS "${_ws2api_default_components}" CACHE STRING
    "CPack components to package (server, console)")

set(_pkg_src "${CMAKE_CURRENT_LIST_DIR}")
set(_pkg_gen "${CMAKE_BINARY_DIR}/packaging")
file(MAKE_DIRECTORY "${_pkg_gen}/server-deb")
set(WS2API_VERSION "${WS2API_PACKAGE_VERSION}")   # @WS2API_VERSION@ in the man pages

# Fixed paths, independent of CMAKE_INSTALL_PREFIX: dpkg and rpm want them so.
set(WS2API_SYSTEMD_UNITDIR "/lib/systemd/system" CACHE PATH
    "Where the systemd unit goes (Debian 12: /lib/systemd/system)")
set(WS2API_DOCDIR "${CMAKE_INSTALL_DATAROOTDIR}/doc/ws2api")

# ---- server component: package "ws2api" -------------------------------------
# server/CMakeLists.txt installs the binaries without a component; install
# them again into the "server" component so CPack can split packages.
install(TARGETS ws2api ws2api-demo-api
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT server)

# Like dh_strip: drop .comment/.note too (CPack's strip keeps them).
find_program(WS2API_STRIP strip)
function(ws2api_strip_more component)
  if(WS2API_STRIP)
    install(CODE "
      if(CMAKE_INSTALL_DO_STRIP)
        foreach(_b ${ARGN})
          execute_process(COMMAND \"${WS2API_STRIP}\" --remove-section=.comment --remove-section=.note --strip-unneeded
                          \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/\${_b}\")
        endforeach()
      endif()" COMPONENT ${component})
  endif()
endfunction()
ws2api_strip_more(server ws2api ws2api-demo-api)

install(FILES "${_pkg_src}/systemd/ws2api.service" "${_pkg_src}/systemd/ws2api@.service"
        DESTINATION "${WS2API_SYSTEMD_UNITDIR}" COMPONENT server)
install(FILES "${_pkg_src}/examples/default-ws2api"
        DESTINATION "/etc/default" RENAME ws2api COMPONENT server)

# Man pages, gzip -9n (reproducible, as lintian wants).
find_program(WS2API_GZIP gzip REQUIRED)
set(_mans ws2api ws2api-demo-api)
if(WS2API_BUILD_CONSOLE)
  list(APPEND _mans ws2api-console)
endif()
foreach(_man ${_mans})
  if(_man STREQUAL "ws2api-console")
    set(_comp console)
  else()
    set(_comp server)
  endif()
  configure_file("${_pkg_src}/man/${_man}.1" "${_pkg_gen}/man/${_man}.1" @ONLY)
  add_custom_command(
    OUTPUT "${_pkg_gen}/man/${_man}.1.gz"
    COMMAND "${WS2API_GZIP}" -9nc "${_pkg_gen}/man/${_man}.1" > "${_pkg_gen}/man/${_man}.1.gz"
    DEPENDS "${_pkg_gen}/man/${_man}.1"
    VERBATIM)
  list(APPEND _pkg_generated "${_pkg_gen}/man/${_man}.1.gz")
  install(FILES "${_pkg_gen}/man/${_man}.1.gz"
          DESTINATION "${CMAKE_INSTALL_MANDIR}/man1" COMPONENT ${_comp})
endforeach()

# Debian changelog (changelog.Debian.gz) and copyright.
set(WS2API_DEB_VERSION "${WS2API_PACKAGE_VERSION}-${WS2API_PACKAGE_RELEASE}")
set(CPACK_PACKAGE_CONTACT "${WS2API_PACKAGE_CONTACT}")
set(CPACK_PACKAGE_VERSION "${WS2API_PACKAGE_VERSION}")
if(DEFINED ENV{SOURCE_DATE_EPOCH})
  set(_epoch "$ENV{SOURCE_DATE_EPOCH}")
else()
  execute_process(COMMAND git -C "${CMAKE_SOURCE_DIR}" log -1 --format=%ct
                  OUTPUT_VARIABLE _epoch OUTPUT_STRIP_TRAILING_WHITESPACE
                  ERROR_QUIET RESULT_VARIABLE _git_rc)
  if(NOT _git_rc EQUAL 0 OR _epoch STREQUAL "")
    string(TIMESTAMP _epoch "%s" UTC)
  endif()
endif()
execute_process(COMMAND date -u -R -d "@${_epoch}"
                OUTPUT_VARIABLE WS2API_CHANGELOG_DATE OUTPUT_STRIP_TRAILING_WHITESPACE)
configure_file("${_pkg_src}/debian/changelog.in" "${_pkg_gen}/changelog.Debian" @ONLY)
add_custom_command(
  OUTPUT "${_pkg_gen}/changelog.Debian.gz"
  COMMAND "${WS2API_GZIP}" -9nc "${_pkg_gen}/changelog.Debian" > "${_pkg_gen}/changelog.Debian.gz"
  DEPENDS "${_pkg_gen}/changelog.Debian"
  VERBATIM)
list(APPEND _pkg_generated "${_pkg_gen}/changelog.Debian.gz")
add_custom_target(ws2api_package_files ALL DEPENDS ${_pkg_generated})

install(FILES "${_pkg_gen}/changelog.Debian.gz" "${_pkg_src}/debian/copyright"
        DESTINATION "${WS2API_DOCDIR}" COMPONENT server)
install(FILES "${_pkg_src}/debian/lintian-overrides"
        DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides" RENAME ws2api
        COMPONENT server)
if(WS2API_BUILD_CONSOLE)
  ws2api_strip_more(console ws2api-console)
  set(_console_docdir "${CMAKE_INSTALL_DATAROOTDIR}/doc/ws2api-console")
  install(FILES "${_pkg_gen}/changelog.Debian.gz" "${_pkg_src}/debian/copyright"
          DESTINATION "${_console_docdir}" COMPONENT console)
  # CONSOLE.md itself: console/CMakeLists.txt; its pictures:
  file(GLOB _console_img "${CMAKE_SOURCE_DIR}/docs/img/console-*.png")
  install(FILES ${_console_img} DESTINATION "${_console_docdir}/img" COMPONENT console)
  # The same overrides, for the other package name.
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_pkg_src}/debian/lintian-overrides")
  file(READ "${_pkg_src}/debian/lintian-overrides" _ovr)
  string(REPLACE "ws2api: " "ws2api-console: " _ovr "${_ovr}")
  file(WRITE "${_pkg_gen}/console-lintian-overrides" "${_ovr}")
  install(FILES "${_pkg_gen}/console-lintian-overrides"
          DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides" RENAME ws2api-console
          COMPONENT console)
endif()

# Documentation.
set(_docs "${CMAKE_SOURCE_DIR}/README.md")
foreach(_d TUNING.md API.md configuration.md architecture.md SECURITY.md SCALING.md MONITORING.md)
  if(EXISTS "${CMAKE_SOURCE_DIR}/docs/${_d}")
    list(APPEND _docs "${CMAKE_SOURCE_DIR}/docs/${_d}")
  endif()
endforeach()
install(FILES ${_docs} DESTINATION "${WS2API_DOCDIR}" COMPONENT server)
install(FILES "${_pkg_src}/examples/60-ws2api.conf" "${_pkg_src}/examples/haproxy-ws2api.cfg"
              "${_pkg_src}/examples/internal-tls.conf"
              "${_pkg_src}/examples/nginx-ws2api.conf" "${_pkg_src}/examples/ws2api-chat-example.service"
        DESTINATION "${WS2API_DOCDIR}/examples" COMPONENT server)
# The chat examples (examples/README.md), runnable where they land: each run.sh
# finds its files next to itself.
install(DIRECTORY "${CMAKE_SOURCE_DIR}/examples/" DESTINATION "${WS2API_DOCDIR}/examples/chat" COMPONENT server
        USE_SOURCE_PERMISSIONS PATTERN "__pycache__" EXCLUDE)

# The monitoring kit (docs/MONITORING.md): Grafana dashboard, Prometheus alert
# rules with their promtool unit tests, a scrape job to copy from.
install(FILES "${CMAKE_SOURCE_DIR}/monitoring/ws2api-dashboard.json" "${CMAKE_SOURCE_DIR}/monitoring/ws2api-alerts.yml"
              "${CMAKE_SOURCE_DIR}/monitoring/ws2api-alerts.test.yml" "${CMAKE_SOURCE_DIR}/monitoring/prometheus.yml"
        DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/ws2api/monitoring" COMPONENT server)

# Maintainer scripts: copied with the modes dpkg expects.
foreach(_s postinst prerm postrm)
  file(COPY "${_pkg_src}/debian/${_s}" DESTINATION "${_pkg_gen}/server-deb"
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endforeach()
file(COPY "${_pkg_src}/debian/conffiles" DESTINATION "${_pkg_gen}/server-deb"
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# ---- CPack --------------------------------------------------------------------
set(CPACK_PACKAGE_NAME "ws2api")
set(CPACK_PACKAGE_VENDOR "ws2api")
# No CPACK_PACKAGE_DESCRIPTION_SUMMARY on purpose: CPack (3.25) would put it in
# front of every package's Description as the synopsis. Left at CPack's default,
# it is not used, and each package's description below starts with its own
# synopsis line (Debian) / has its own Summary (RPM).
set(CPACK_PACKAGE_INSTALL_DIRECTORY "ws2api")
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_RELOCATABLE OFF)   # /etc, /lib/systemd: fixed paths
set(CPACK_COMPONENTS_ALL ${WS2API_PACKAGE_COMPONENTS})
set(CPACK_COMPONENTS_GROUPING IGNORE)   # one package per component
set(CPACK_OUTPUT_FILE_PREFIX "${CMAKE_BINARY_DIR}/packages")

set(CPACK_COMPONENT_SERVER_DISPLAY_NAME "ws2api bridge")
set(WS2API_SERVER_SUMMARY "WebSocket-to-HTTP bridge")
set(CPACK_COMPONENT_SERVER_DESCRIPTION
"ws2api lets a team with an ordinary HTTP API serve hundreds of thousands
of WebSocket clients without writing WebSocket code. Every WebSocket event
becomes a plain HTTP request to the API (GET on connect, POST per message,
DELETE on close), and the API talks to a client with a plain HTTP POST.
.
This package contains the bridge and its command line administration
(ws2api config|token|stats), an example API (ws2api-demo-api), a hardened
systemd service running as the ws2api user with its database in
/var/lib/ws2api, and its defaults in /etc/default/ws2api.")
set(WS2API_CONSOLE_SUMMARY "admin console for ws2api WebSocket bridges")
set(CPACK_COMPONENT_CONSOLE_DESCRIPTION
"ws2api-console (Qt 6) shows one or several ws2api bridges: health, open
connections, messages and upstream latency as numbers and live charts, the
connections (paged on the server, filtered by ClientId), test pushes,
disconnects, configuration with bounds, and the audit log. It talks only to
the bridges' management API; tokens go to the desktop keyring when there is
one.")

# DEB
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE "${WS2API_PACKAGE_RELEASE}")
set(CPACK_DEBIAN_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_SOURCE "ws2api")
set(CPACK_DEBIAN_SERVER_PACKAGE_NAME "ws2api")
set(CPACK_DEBIAN_SERVER_DESCRIPTION "${WS2API_SERVER_SUMMARY}\n${CPACK_COMPONENT_SERVER_DESCRIPTION}")
set(CPACK_DEBIAN_SERVER_PACKAGE_SHLIBDEPS ON)
# procps: /bin/kill, which the units' ExecReload= runs (systemctl reload = SIGHUP).
set(CPACK_DEBIAN_SERVER_PACKAGE_DEPENDS "adduser, init-system-helpers (>= 1.54~), procps")
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_EXTRA
    "${_pkg_gen}/server-deb/postinst;${_pkg_gen}/server-deb/prerm;${_pkg_gen}/server-deb/postrm;${_pkg_gen}/server-deb/conffiles")
set(CPACK_DEBIAN_CONSOLE_PACKAGE_NAME "ws2api-console")
set(CPACK_DEBIAN_CONSOLE_PACKAGE_SECTION "admin")
set(CPACK_DEBIAN_CONSOLE_PACKAGE_SHLIBDEPS ON)
# The console usually runs on an operator's desktop, not on the bridge's host.
set(CPACK_DEBIAN_CONSOLE_PACKAGE_SUGGESTS "ws2api")
set(CPACK_DEBIAN_CONSOLE_DESCRIPTION "${WS2API_CONSOLE_SUMMARY}\n${CPACK_COMPONENT_CONSOLE_DESCRIPTION}")

# RPM
set(CPACK_RPM_COMPONENT_INSTALL ON)
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_RELEASE "${WS2API_PACKAGE_RELEASE}")
set(CPACK_RPM_PACKAGE_RELEASE_DIST OFF)
set(CPACK_RPM_PACKAGE_LICENSE "Proprietary")
set(CPACK_RPM_PACKAGE_GROUP "System Environment/Daemons")
set(CPACK_RPM_PACKAGE_AUTOREQ ON)
set(CPACK_RPM_SERVER_PACKAGE_NAME "ws2api")
set(CPACK_RPM_CONSOLE_PACKAGE_NAME "ws2api-console")
set(CPACK_RPM_CONSOLE_PACKAGE_SUMMARY "Admin console for ws2api WebSocket bridges")
set(CPACK_RPM_CONSOLE_PACKAGE_GROUP "Applications/System")
set(CPACK_RPM_CONSOLE_PACKAGE_DESCRIPTION "${CPACK_COMPONENT_CONSOLE_DESCRIPTION}")
set(CPACK_RPM_SERVER_PACKAGE_SUMMARY "${WS2API_SERVER_SUMMARY}")
# RPM separates paragraphs with an empty line, Debian with " .".
string(REPLACE "\n.\n" "\n\n" CPACK_RPM_SERVER_PACKAGE_DESCRIPTION "${CPACK_COMPONENT_SERVER_DESCRIPTION}")
set(CPACK_RPM_SERVER_PACKAGE_REQUIRES_PRE "shadow-utils")
set(CPACK_RPM_SERVER_PACKAGE_REQUIRES "procps-ng") # /usr/bin/kill for the units' ExecReload=
set(CPACK_RPM_SERVER_PRE_INSTALL_SCRIPT_FILE    "${_pkg_src}/rpm/pre-install.sh")
set(CPACK_RPM_SERVER_POST_INSTALL_SCRIPT_FILE   "${_pkg_src}/rpm/post-install.sh")
set(CPACK_RPM_SERVER_PRE_UNINSTALL_SCRIPT_FILE  "${_pkg_src}/rpm/pre-uninstall.sh")
set(CPACK_RPM_SERVER_POST_UNINSTALL_SCRIPT_FILE "${_pkg_src}/rpm/post-uninstall.sh")
set(CPACK_RPM_SERVER_USER_FILELIST "%config(noreplace) /etc/default/ws2api")
# Directories owned by other packages (filesystem, systemd, man-db).
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /etc/default /lib /lib/systemd /lib/systemd/system
    /usr/share/man /usr/share/man/man1 /usr/share/doc
    /usr/share/lintian /usr/share/lintian/overrides
    /usr/share/applications /usr/share/icons /usr/share/icons/hicolor
    /usr/share/icons/hicolor/scalable /usr/share/icons/hicolor/scalable/apps
    /usr/share/icons/hicolor/128x128 /usr/share/icons/hicolor/128x128/apps)
set(CPACK_RPM_SPEC_MORE_DEFINE "%define _build_id_links none")

include(CPack)
include(CPackComponent)
cpack_add_component(server
  DISPLAY_NAME "${CPACK_COMPONENT_SERVER_DISPLAY_NAME}"
  DESCRIPTION "${CPACK_COMPONENT_SERVER_DESCRIPTION}")
if(WS2API_BUILD_CONSOLE)
  cpack_add_component(console
    DISPLAY_NAME "ws2api admin console"
    DESCRIPTION "${CPACK_COMPONENT_CONSOLE_DESCRIPTION}")
endif()
