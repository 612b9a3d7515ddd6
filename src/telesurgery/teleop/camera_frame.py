"""Camera-frame mapping: the hand moves the tool as seen through the endoscope.

Frames (normative, ``docs/teleop-spec.md`` section "Frames"):

* ``console``: the surgeon's frame in which the master pose ``T_console_master`` is given:
  x to the surgeon's right, y up, z toward the surgeon (out of the screen).
* ``camera``: the endoscope's optical frame at the ECM tip (OpenCV convention): z along the
  viewing direction, x to the right of the displayed image, y down the displayed image.
* ``rcm``: the remote-centre-of-motion frame of the arm being driven, placed in the cart world by
  ``T_world_rcm``; tool targets ``T_rcm_tip`` are expressed in it.

Since the screen shows the camera image, a hand motion right/up/toward-the-surgeon is a motion
along camera +x / -y / -z, so ``R_camera_console = diag(1, -1, -1)`` and a console vector maps to
the arm's RCM frame with ``R_rcm_console = R_world_rcm^T R_world_camera R_camera_console``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from telesurgery.teleop.so3 import check_pose, matmul3

FloatArray = NDArray[np.float64]

R_CAMERA_CONSOLE: FloatArray = np.diag([1.0, -1.0, -1.0])
"""(3, 3) rotation from the console frame to the camera frame (a half-turn about x)."""


def R_rcm_console(T_world_camera: FloatArray, T_world_rcm: FloatArray) -> FloatArray:
    """(3, 3) rotation taking console-frame vectors to the arm's RCM frame.

    Evaluated as ``matmul3(R_world_rcm^T, R_world_camera)`` with columns 1 and 2 then negated
    (the product with ``R_CAMERA_CONSOLE``, exact in floating point).
    """
    T_wc = check_pose(T_world_camera, "T_world_camera")
    T_wr = check_pose(T_world_rcm, "T_world_rcm")
    R_rcm_camera = matmul3(T_wr[:3, :3].T, T_wc[:3, :3])
    R = R_rcm_camera.copy()
    R[:, 1] = -R_rcm_camera[:, 1]
    R[:, 2] = -R_rcm_camera[:, 2]
    return R
