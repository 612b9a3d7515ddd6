"""The float-only modified-DH chain against the reference array implementation."""

from __future__ import annotations

import numpy as np

from telesurgery.robot.kinematics.chain import DhChain, frame_to_T
from telesurgery.robot.kinematics.dh import ECM_LINKS, PSM_LINKS, forward_chain, forward_frames


def test_frames_match_the_reference_chain_for_psm_and_ecm() -> None:
    rng = np.random.default_rng(30)
    for links in (PSM_LINKS, ECM_LINKS):
        chain = DhChain(links)
        lower = np.array([link.q_min for link in links])
        upper = np.array([link.q_max for link in links])
        for q in rng.uniform(lower - 0.5, upper + 0.5, size=(300, len(links))):
            frames = chain.frames(q.tolist())
            reference = forward_frames(links, q)
            assert len(frames) == len(reference) == len(links)
            for frame, T in zip(frames, reference, strict=True):
                np.testing.assert_allclose(frame_to_T(frame), T, rtol=0, atol=2e-16 * 8)
            np.testing.assert_allclose(chain.pose(q.tolist()), forward_chain(links, q), atol=2e-15)


def test_reference_frames_end_with_forward_chain() -> None:
    q = np.array([0.1, -0.2, 0.15, 0.4, -0.3, 0.2])
    np.testing.assert_array_equal(forward_frames(PSM_LINKS, q)[-1], forward_chain(PSM_LINKS, q))


def test_frame_layout_is_axes_then_origin() -> None:
    chain = DhChain(PSM_LINKS[:3])
    x0, x1, x2, y0, y1, y2, z0, z1, z2, p0, p1, p2 = chain.frames([0.0, 0.0, 0.1])[-1]
    # Insertion frame at zero yaw/pitch: the shaft (z) points down, origin 0.4318 - 0.1 above.
    np.testing.assert_allclose([z0, z1, z2], [0.0, 0.0, -1.0], atol=2e-5)
    np.testing.assert_allclose([p0, p1, p2], [0.0, 0.0, 0.3318], atol=5e-6)  # 1.5708 != pi/2
    R = np.array([[x0, y0, z0], [x1, y1, z1], [x2, y2, z2]])
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-15)
