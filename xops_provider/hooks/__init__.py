"""Airflow hooks: one client for one connection each.

What belongs here: ``ms_tenant`` (the parent Microsoft connector), the Defender incidents hook (list,
get, update, comment, probe; it gives pages, it runs nothing), the Defender evidence hook (hunting
and alerts_v2), the ``cato`` events hook, and the ``xops_store`` hook with the one rule that resolves
a store connection. ``client.ClientHook`` is what the client hooks share. A hook never imports an
operator.
"""
