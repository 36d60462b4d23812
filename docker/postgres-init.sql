-- The story store lives beside Airflow's metadata DB, in its own database.
CREATE DATABASE xops OWNER airflow;
