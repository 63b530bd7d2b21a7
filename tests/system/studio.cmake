# The Studio server as users run it: kos-server started, asked and stopped
# with kos-tool (test_studio_server.sh), its API over real HTTP
# (test_studio_api.py), and provisioning a device with it
# (test_studio_provision.sh), and a provisioned device on sim linked to it
# (test_studio_device.sh), with message tracing (test_studio_trace.sh)
# and its remote shell through kos-tool toolbox.remote_shell
# (test_studio_shell.sh), a device that waits for approval
# (test_studio_pending.sh), debugging one of its apps with gdb through
# kos-tool debug (test_studio_debug.sh), forwarded streams
# (test_studio_stream.sh), and the boot store's generations in its health
# (test_studio_storage.sh), and upgrades pushed to it
# (test_upgrade_sim.sh); they share studio_lib.sh. Each test has its own
# data folder and free ports
# on 127.0.0.1, and stops its server.
if(TARGET kos-server AND TARGET kos-tool)
  set(_studio_env KOS_TOOL=$<TARGET_FILE:kos-tool> KOS_SERVER=$<TARGET_FILE:kos-server>
                  KOS_TRUST=${CMAKE_BINARY_DIR}/kos-keys/release.pub)
  foreach(t server provision)
    add_test(NAME system_studio_${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_studio_${t}.sh)
  endforeach()
  add_test(NAME system_studio_api COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/test_studio_api.py)
  add_test(NAME system_studio_device COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_studio_device.sh)
  add_test(NAME system_studio_trace COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_studio_trace.sh)
  add_test(NAME system_studio_shell COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_studio_shell.sh)
  add_test(NAME system_studio_pending COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_studio_pending.sh)
  add_test(NAME system_studio_debug COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_studio_debug.sh)
  add_test(NAME system_studio_stream COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_studio_stream.sh)
  add_test(NAME system_studio_storage COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_studio_storage.sh)
  add_test(NAME system_upgrade_sim COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_upgrade_sim.sh)
  set_tests_properties(system_studio_device system_studio_trace system_studio_shell
                       system_studio_pending system_studio_debug system_studio_stream
                       system_studio_storage system_upgrade_sim PROPERTIES
    ENVIRONMENT "${_studio_env};KOS_KEY=${CMAKE_BINARY_DIR}/kos-keys/release.key;KOS_T_APP=$<TARGET_FILE:t_app>"
    LABELS "system;server" TIMEOUT 300)
  # Pushing a release (test_studio_upgrade.py, with fake_device.py's
  # devices): the upload, the blob route, progress and results; kos-tool
  # push and watch --device (test_studio_push.sh).
  add_test(NAME system_studio_upgrade COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/test_studio_upgrade.py)
  add_test(NAME system_studio_push COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_studio_push.sh)
  set_tests_properties(system_studio_upgrade system_studio_push PROPERTIES
    ENVIRONMENT "${_studio_env};KOS_KEY=${CMAKE_BINARY_DIR}/kos-keys/release.key;KOS_IMAGE=${CMAKE_CURRENT_BINARY_DIR}/system/restart.zip"
    LABELS "system;server" TIMEOUT 300)
  set_tests_properties(system_studio_server system_studio_provision system_studio_api PROPERTIES
    ENVIRONMENT "${_studio_env}" LABELS "system;server" TIMEOUT 300)
endif()
