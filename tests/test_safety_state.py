"""The arm state table: every state can be stopped, nothing leaves an e-stop but a clear."""

from __future__ import annotations

import pytest

from telesurgery.safety.state import ALLOWED_TRANSITIONS, ArmState, InvalidTransition


def test_every_state_but_estopped_can_be_estopped() -> None:
    for state in ArmState:
        if state is not ArmState.ESTOPPED:
            assert ArmState.ESTOPPED in ALLOWED_TRANSITIONS[state]
    assert ALLOWED_TRANSITIONS[ArmState.ESTOPPED] == {ArmState.DISENGAGED}


def test_following_is_entered_only_by_engage_or_resume() -> None:
    sources = {s for s, targets in ALLOWED_TRANSITIONS.items() if ArmState.FOLLOWING in targets}
    assert sources == {ArmState.DISENGAGED, ArmState.HOLDING}


def test_invalid_transition_names_the_valid_ones() -> None:
    with pytest.raises(InvalidTransition) as info:
        raise InvalidTransition("PSM1", ArmState.ESTOPPED, ArmState.FOLLOWING)
    assert str(info.value) == (
        "arm PSM1: transition estopped -> following is not allowed; "
        "from estopped valid next states are disengaged"
    )
