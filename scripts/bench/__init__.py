"""bpnet_xp's benchmark against the programs a user would otherwise pick (see __main__.py).

Run it as ``python scripts/bench [options]``; the modules are importable as ``bench.*``
with ``scripts/`` on ``sys.path`` (the tests do that).
"""
