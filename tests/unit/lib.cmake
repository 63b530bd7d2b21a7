# What lib/ shares with the components beyond the public API: settings in
# the manifest's forms (lib/config.c) and log budgets per app (lib/budget.c).
kos_test(config SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_config.c LIBS kos_internal LABELS unit)
kos_test(budget SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_budget.c LIBS kos_internal LABELS unit)
