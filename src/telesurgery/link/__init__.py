"""Clock synchronisation, latency measurement and link-emulation profiles."""
