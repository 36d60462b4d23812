"""HTTP clients with no Airflow in them: Microsoft identity (MSAL), Graph and Cato's events feed.

What belongs here: one client per remote API, its retries, throttling and error types, and the rule
that a token goes only to the configured hosts. Connections and Airflow conventions live in ``hooks``.
"""
