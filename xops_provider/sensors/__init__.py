"""Airflow sensors: the deferrable wait for a Defender incident version the store has not stored yet."""
