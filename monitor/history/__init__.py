"""The day as fcmdash saw it: queue calls, members' states, rings not answered, and the gaps
when it could not see the PBX (issue 12). The rows are :mod:`monitor.history_models`'.

How it flows:

1. the worker feeds :class:`~monitor.history.recorder.Recorder` every live event it applies,
   the state after each resync, and the session going down (sans-IO: no socket, no clock, no
   database; times are the events' own);
2. the recorder keeps the open calls, spans and gap in memory and turns what happened into
   pending row changes (:class:`~monitor.history.recorder.Pending`);
3. each flush takes them into its ``mirror.Batch`` and :mod:`monitor.history.rows` writes them
   in the mirror's transaction, after its fence check; a flush that fails gives them back to
   the recorder, and the next one writes them again (upserts by their keys: nothing doubles);
4. the web side counts a day from the rows (:mod:`~monitor.history.aggregate` in SQL, with
   :mod:`~monitor.history.numbers` as the reference it is tested against; the day's window from
   :mod:`~monitor.history.days`) for the Today page, the agent board, the CSV and the API.

Outcomes follow Asterisk's ``queue_log`` (``apps/app_queue.c``), as the lab's f5 transcript
shows them beside the AMI events they produced:

============================  =========================================================
queue_log                     AMI
============================  =========================================================
ENTERQUEUE                    QueueCallerJoin
CONNECT (hold)                QueueCallerLeave, then AgentConnect ``HoldTime``
COMPLETEAGENT/COMPLETECALLER  AgentComplete ``TalkTime``, ``Reason`` agent / caller
ABANDON (wait)                the caller's HangupRequest, QueueCallerAbandon ``HoldTime``,
                              QueueCallerLeave
EXITWITHTIMEOUT, EXITEMPTY    QueueCallerAbandon and QueueCallerLeave as well (app_queue
                              calls ``record_abandoned()`` for both), with no hangup
                              request before; then ``VarSet QUEUESTATUS`` TIMEOUT /
                              LEAVEEMPTY / LEAVEUNAVAIL, which only a user reading the
                              ``dialplan`` class gets (admin123, not wallboard1): without
                              it the two cannot be told apart and the call is OTHER
EXITWITHKEY                   QueueCallerLeave with neither abandon nor connect, after the
                              caller's DTMFEnd (``dtmf`` class); without DTMF it is OTHER
RINGNOANSWER (ms)             AgentRingNoAnswer ``RingTime`` (ms; a decline is one too)
PAUSE/UNPAUSE (reason)        QueueMemberPause / QueueMemberStatus ``Paused``,
                              ``PausedReason``
============================  =========================================================
"""
