"""What the server needs to verify a run: a port of the game's physics, the run token and
the tick encoding. Pure (no I/O, no clock, no settings): callers pass keys and times in,
so this package sits at the bottom of the import graph beside data.models.
"""
