"""Triggers that run in the triggerer: the one-shot wait of the sensor and the AssetWatcher's event
trigger. They only read the store; they never migrate it."""
