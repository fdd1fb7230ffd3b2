"""The consumer-group member's pipeline: fetch → one batch's effects → settle (acks, then commit).

- member.py: the group member; its rebalance listener only delegates
- assignment.py: what the member knows of each assigned partition
- replay.py: where each newly assigned partition starts, and how much is warm-up
- batch.py: one batch's effects (decode → store → indicators → outputs, dead letters)
- indicator_worker.py: the indicator engines and checkpoints per interval, fed each batch
- settle.py: the commit settler (its steps are numbered in its docstring)
"""
