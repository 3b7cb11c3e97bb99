"""Messages once prepared: the outbox's states, delivery receipts and replies (MO).

:mod:`.outbox` (claim, hold, mark on the wire, record outcomes, reconcile; set-based SQL),
:mod:`.receipts` (final states from delivery receipts; "blocked" means opt-out) and :mod:`.mo`
(a reply: classify, opt out, confirm, attribute, store). The sending engine calls them; they
use accounts and opt-outs.
"""
