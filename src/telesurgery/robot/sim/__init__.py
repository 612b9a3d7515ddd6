"""The simulated dVRK-class patient cart in MuJoCo (the default robot driver)."""
