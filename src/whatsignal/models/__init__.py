"""Wire and domain types: plain frozen attrs classes, no logic and no I/O.

The JSON names of the wire types live in :mod:`whatsignal.serde`, never here.
"""
