"""Microsoft Graph stand-ins, one module per API: ``incidents``, ``alerts_v2`` and ``hunting``
(``runHuntingQuery``, with its KQL subset in ``kql``); ``filters``, ``odata``, ``auth`` and
``responses`` are what they share."""
