FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends build-essential npm && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
RUN pip install --no-cache-dir "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir -e .
COPY . .
RUN scripts/fetch_htmx.sh 2.0.11 static/vendor/htmx.min.js \
 && OPTIROUTE_NO_BROKER=true DATABASE_URL=postgresql://build@localhost/build python manage.py collectstatic --noinput
EXPOSE 8000
# The same server configuration as `make run` (workers, threads, the routing state loaded and frozen
# before the first request): optiroute/gunicorn_conf.py.
ENV WEB_BIND=0.0.0.0:8000
CMD ["gunicorn", "optiroute.wsgi", "--config", "python:optiroute.gunicorn_conf"]
