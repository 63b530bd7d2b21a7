# ethernet system tests: the component booted in real systems on `sim`,
# reaching loopback peers the test starts (eth_peer.py), for a test client
# of kos_ethernet_protocol. The images that name the peers' ports are built
# by the test itself, once it knows them; the bad-config one here.
kos_add_app(eth_t_app ${CMAKE_CURRENT_LIST_DIR}/eth_app.c)
kos_add_system(eth_sys_badconfig MANIFEST ${CMAKE_CURRENT_LIST_DIR}/eth_badconfig.yaml
               APPS eth_t_app LAYER_DIRS ${CMAKE_CURRENT_LIST_DIR}/layers
               OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/poukai/eth_badconfig.zip)
add_dependencies(eth_sys_badconfig ethernet)

add_test(NAME poukai_ethernet COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/ethernet_test.sh)
set_tests_properties(poukai_ethernet PROPERTIES
  ENVIRONMENT "KOS_TOOL=$<TARGET_FILE:kos-tool>;KOS_TRUST=${CMAKE_BINARY_DIR}/kos-keys/release.pub;KOS_KEY=${CMAKE_BINARY_DIR}/kos-keys/release.key;KOS_IMAGES=${CMAKE_CURRENT_BINARY_DIR}/poukai;KOS_EXAMPLES=${CMAKE_BINARY_DIR}/examples;KOS_ETH_APP=$<TARGET_FILE:eth_t_app>;KOS_ETH_DIR=${CMAKE_CURRENT_LIST_DIR}"
  LABELS "system;poukai;ethernet" TIMEOUT 180)
