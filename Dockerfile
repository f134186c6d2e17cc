# The scoring service (no torch): the serving set pinned by serving/constraints.txt.
#   docker build -t kanjiwrite . && docker run -p 8000:8000 -e KANJIWRITE_DATABASE_URL=... kanjiwrite
# Put it behind a reverse proxy (README: "Behind a reverse proxy").
FROM python:3.11-slim
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir -c serving/constraints.txt '.[serve,postgres]'
ENV KANJIWRITE_HOST=0.0.0.0 KANJIWRITE_WORKERS=2
EXPOSE 8000
USER nobody
CMD ["kanjiwrite", "serve"]
