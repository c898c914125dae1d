# The AWS emulator of the demo: testing/moto_harness.py (moto + the routes moto lacks), seeded
# with the "demo" pipelines of testing/seed.py. Also runs compose/moto-ticker.py.
# Build context: the repository root (see docker-compose.yml).
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# The test requirements minus rotel (an OTLP collector the tests use; its wheels are
# x86_64/glibc only and the emulator does not need it).
COPY testing/requirements.txt testing/requirements.txt
RUN grep -v '^rotel' testing/requirements.txt > /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY testing/moto_harness.py testing/seed.py testing/
COPY compose/moto-ticker.py compose/

RUN useradd --system --uid 10001 --no-create-home moto
USER 10001

EXPOSE 5000
# The port file appears once seeding (and the seeded executions) finished; docker-compose.yml's
# healthcheck tests for it (not a HEALTHCHECK here: the ticker runs from this image too).
CMD ["python", "testing/moto_harness.py", "--host", "0.0.0.0", "--port", "5000", \
     "--seed", "demo", "--seed-wait", "--port-file", "/tmp/moto.ready"]
