"""Clock synchronisation, latency measurement, link-emulation profiles and the transport rules
the link needs (paced FORWARD-TSN resends)."""
