"""xops-provider: Microsoft Defender for Office 365 incidents as XOps investigation stories."""

from __future__ import annotations

__version__ = "0.1.0"
