# The tunnel component's parts: its settings and the bundle's server item
# (conf.c), and the OpenSSL provider whose key signs through a signer
# (provider.c), in a real TLS 1.3 handshake with client authentication.
if(TARGET tunnel_core)
  kos_test(tunnel
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tunnel.c
    LIBS tunnel_core
    LABELS unit tunnel)
endif()
