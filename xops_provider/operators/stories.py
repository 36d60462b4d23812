"""The Generic Incident story producer as an Airflow operator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from xops_provider.hooks.store import StoreHook
from xops_provider.stories.produce import produce

if TYPE_CHECKING:
    from airflow.sdk import Context


class GenericIncidentOperator(BaseOperator):
    """Turn every stored incident version that no story reflects yet into its story.

    Works through the store's queue of unproduced versions, so incidents whose versions or alerts arrived
    in earlier runs, or whose producing run crashed, are picked up too. Only counts go to XCom.

    :param integration: the MDO integration whose versions to produce.
    :param xops_store_conn_id: the story store connection; the embedded SQLite store when it is not defined.
    :param batch_size: how many incidents to produce per store transaction.
    """

    template_fields: Sequence[str] = ("integration",)
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        integration: str = "default",
        xops_store_conn_id: str = StoreHook.default_conn_name,
        batch_size: int = 200,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.integration = integration
        self.xops_store_conn_id = xops_store_conn_id
        self.batch_size = batch_size

    def execute(self, context: Context) -> dict[str, int]:
        store = StoreHook(xops_store_conn_id=self.xops_store_conn_id).get_store()
        try:
            report = produce(store.stories, integration=self.integration, batch_size=self.batch_size)
        finally:
            store.close()
        counts = report.counts()
        self.log.info("Story producer: %s", counts)
        return counts
