"""Helpers of bench/sipp_calls.py: deck loading, processes, SIPp runs, engine probes, report."""
