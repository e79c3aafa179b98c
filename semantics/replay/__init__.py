"""Replaying traces on real kernels: the live one (live.py) and, later, others."""
