"""Airflow operators: a few lines each that wire a hook to a domain function and persist the result.

What belongs here: the ingest (hook pages -> sync engine -> sync repository) and the Generic Incident
story producer. Only ids, counts and watermarks go to XCom.
"""
