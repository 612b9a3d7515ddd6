"""Analytic kinematics of the dVRK-class arms (pure numpy and floats, no simulator).

* :mod:`.base` -- the :class:`~.base.ArmKinematics` contract (``forward``, ``inverse``,
  ``check_joint_limits``, ``rcm_distance_m``) and :class:`~.base.IkTolerances`.
* :mod:`.psm` -- :class:`~.psm.PsmKinematics`, classic PSM + Large Needle Driver (6 joints).
* :mod:`.ecm` -- :class:`~.ecm.EcmKinematics`, classic ECM, camera frame at the scope tip.
* :mod:`.dh` -- the published modified-DH tables; :mod:`.chain` -- the same chain on floats.
* :mod:`.subproblems` -- exact closed-form angle subproblems shared by both arms.
* :mod:`.rotations` -- quaternions (``quat_xyzw``), SO(3) exp/log, pose helpers.
* :mod:`.validation` -- checks for untrusted poses and joint vectors (``InvalidCommand``).
"""
