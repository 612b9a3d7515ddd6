"""Analytic kinematics of the dVRK-class arms (pure numpy, no simulator)."""
