# The Airflow image with this provider installed: the official way to add packages, never
# _PIP_ADDITIONAL_REQUIREMENTS (https://airflow.apache.org/docs/docker-stack/build.html).
FROM apache/airflow:3.3.2-python3.11

# The repository (less what .dockerignore leaves out): the provider's source, and docker/ for the
# compose set-up steps.
COPY --chown=airflow:0 . /opt/xops-provider
# Pinning apache-airflow keeps pip from moving the image's Airflow while it resolves the provider.
RUN pip install --no-cache-dir "apache-airflow==3.3.2" /opt/xops-provider
