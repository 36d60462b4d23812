"""The Stories Workbench: an Airflow UI plugin (FastAPI app and pages) over the store's story reads."""
