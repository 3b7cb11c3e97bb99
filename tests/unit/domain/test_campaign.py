import pytest

from stopsms.domain.campaign import (
    ACTIVE,
    FINAL,
    TRANSITIONS,
    CampaignStatus,
    can_move,
    move,
    reopen,
)
from stopsms.domain.errors import InvalidTransition

S = CampaignStatus


def test_every_status_has_its_transitions_listed() -> None:
    assert set(TRANSITIONS) == set(CampaignStatus)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.DRAFT, S.SCHEDULED),
        (S.DRAFT, S.PREPARING),
        (S.SCHEDULED, S.PREPARING),
        (S.PREPARING, S.SENDING),
        (S.SENDING, S.HELD),
        (S.HELD, S.SENDING),
        (S.SENDING, S.PAUSED),
        (S.PAUSED, S.SENDING),
        (S.SENDING, S.COMPLETED),
        (S.HELD, S.COMPLETED),
        (S.PAUSED, S.CANCELLED),
    ],
)
def test_the_lifecycle_allows(current: CampaignStatus, target: CampaignStatus) -> None:
    assert move(current, target) is target


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.DRAFT, S.SENDING),
        (S.COMPLETED, S.SENDING),
        (S.CANCELLED, S.DRAFT),
        (S.SENDING, S.DRAFT),
        (S.PAUSED, S.COMPLETED),
    ],
)
def test_the_lifecycle_refuses(current: CampaignStatus, target: CampaignStatus) -> None:
    with pytest.raises(InvalidTransition, match=f"from '{current.value}' to '{target.value}'"):
        move(current, target)


def test_final_states_never_move() -> None:
    for status in FINAL:
        assert not any(can_move(status, target) for target in CampaignStatus)


def test_active_states_can_be_paused_and_cancelled() -> None:
    for status in ACTIVE:
        assert can_move(status, S.PAUSED)
        assert can_move(status, S.CANCELLED)


def test_reopen_only_brings_a_completed_campaign_back_to_sending() -> None:
    """Re-queueing messages in doubt: a completed campaign sends again; an active or paused
    one keeps its status; a cancelled or unstarted one is refused."""
    assert reopen(S.COMPLETED) is S.SENDING
    for kept in (S.SENDING, S.HELD, S.PAUSED):
        assert reopen(kept) is kept
    for refused in (S.CANCELLED, S.DRAFT, S.SCHEDULED, S.PREPARING):
        with pytest.raises(InvalidTransition):
            reopen(refused)
    assert not can_move(S.COMPLETED, S.SENDING)  # the lifecycle itself still refuses it
