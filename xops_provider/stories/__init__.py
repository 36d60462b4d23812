"""The story domain: Defender for Office 365 incident versions -> XOps story documents.

Pure Python (standard library, pydantic, msgspec, pendulum and :mod:`xops_provider.models`); no
Airflow, no HTTP, no database. The entry points are :func:`xops_provider.stories.producer.build_story`,
:func:`~xops_provider.stories.produce.produce` and :func:`~xops_provider.stories.producer.story_id`;
storage is reached only through :class:`xops_provider.stories.ports.StoryRepository`.
"""
