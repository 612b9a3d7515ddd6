"""The patient cart: the driver contract (CRTK names), kinematics and the MuJoCo simulation."""
