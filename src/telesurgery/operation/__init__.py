"""Operations, roles, control arbitration (pure) and authentication.

Modules:

* :mod:`~telesurgery.operation.roles` - the :class:`Role` of a participant.
* :mod:`~telesurgery.operation.authorization` - :func:`authorize`: may this role send this
  message kind (about this arm) in this operation; one table, no I/O.
* :mod:`~telesurgery.operation.arbitration` - :class:`ControlArbitration`: who controls each
  arm (request/grant/deny/reassign/take/release, grant timeout, link-loss handover to the bedside,
  e-stop); sans-I/O, events out, ``now`` in.
* :mod:`~telesurgery.operation.messages` - the handover messages of the events channel and their
  strict JSON parser; :mod:`~telesurgery.operation.control_events` - the arbitration's events.
* :mod:`~telesurgery.operation.store` - :class:`OperationStore`: users, operations, invitation
  tokens (argon2id hashes) in the database, ``verify_token``, all audited;
  :mod:`~telesurgery.operation.accounts` (values), :mod:`~telesurgery.operation.tokens` (format,
  hashing), :mod:`~telesurgery.operation.schema` (tables, migrations),
  :mod:`~telesurgery.operation.errors`.
* :mod:`~telesurgery.operation.tls` - the gateway's server TLS context;
  :mod:`~telesurgery.operation.command` - ``telesurgery admin ...``.

Gateway wiring, per console: ``participant = store.verify_token(token, operation_id, now_wall)``
(in an executor) -> ``arbitration.join(console_id, participant.role, now)``; per message:
``authorize(participant.subject(console_id), operation_id, kind, arm=...,
controllers=arbitration.controllers())`` -> handover messages to
``arbitration.handle(console_id, parse_handover(data), now)``; after every input, drain
``arbitration.next_event()`` and apply each ``ControlChanged`` with
``supervisor.set_controller(arm, new, now)`` before the next message, audit it, and re-arm one
timer at ``arbitration.deadline()``; link watchdog -> ``on_link_lost``/``on_link_restored``;
e-stop latch/clear -> ``on_estop(latched, now)``.
"""
