"""Microsoft Graph stand-ins, one module per API: ``incidents`` today; ``alerts_v2`` and
``hunting`` (``runHuntingQuery``) have their place here when they come."""
