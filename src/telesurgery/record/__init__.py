"""Recording, audit chain, replay and report.

* :mod:`~telesurgery.record.recorder` - :class:`Recorder`: non-blocking ``record_*`` calls, a
  bounded queue, a pipe thread and a sink process (:mod:`~telesurgery.record.sink`) writing MCAP.
* :mod:`~telesurgery.record.tap` - :class:`RecordedSupervisor`: a drop-in safety supervisor that
  records its inputs, executed setpoints and events.
* :mod:`~telesurgery.record.channels` - topics and JSON schemas of a recording (Foxglove's
  well-known schemas where they fit); :mod:`~telesurgery.record.session` - the starting point.
* :mod:`~telesurgery.record.reader` - damage-tolerant reading (byte offset and chunk of every
  damaged part); :mod:`~telesurgery.record.replay` - deterministic replay through a fresh
  supervisor, range export, and the time-ordered ``timeline`` for viewers.
* :mod:`~telesurgery.record.report` - the self-contained HTML post-operative report.
* :mod:`~telesurgery.record.db` and :mod:`~telesurgery.record.audit` - the database engine with
  migrations, and the append-only, hash-chained audit trail.
* :mod:`~telesurgery.record.command` - ``telesurgery audit verify``, ``replay``, ``report``.
"""
