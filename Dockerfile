# The Airflow image with this provider installed (the official way: a custom image, never
# _PIP_ADDITIONAL_REQUIREMENTS).
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:root . /opt/xops-provider
RUN pip install --no-cache-dir "apache-airflow==3.3.2" /opt/xops-provider
