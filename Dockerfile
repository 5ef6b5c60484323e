# Hugging Face Space (sdk: docker) / any container host. CPU by default; on a GPU Space the
# same image uses CUDA through torch's default Linux wheel.
FROM python:3.11-slim

RUN apt-get update && apt-get install -y --no-install-recommends espeak-ng git \
    && rm -rf /var/lib/apt/lists/*

# Spaces run as uid 1000
RUN useradd -m -u 1000 user
USER user
ENV HOME=/home/user PATH=/home/user/.local/bin:$PATH \
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=7860 \
    GRADIO_ANALYTICS_ENABLED=False HF_HUB_DISABLE_TELEMETRY=1 \
    VCVAL_HOME=/home/user/vcval-data
WORKDIR /home/user/app

# Optional: --build-arg TORCH_INDEX_URL=<a CPU-only wheel index> for a smaller CPU image.
ARG TORCH_INDEX_URL=""
COPY --chown=user constraints.txt requirements.txt ./
RUN if [ -n "$TORCH_INDEX_URL" ]; then pip install --user --no-cache-dir torch==2.13.0 --index-url "$TORCH_INDEX_URL"; \
    else pip install --user --no-cache-dir torch==2.13.0; fi \
    && pip install --user --no-cache-dir -c constraints.txt -r requirements.txt

COPY --chown=user . .
RUN pip install --user --no-cache-dir --no-deps -e .

EXPOSE 7860
CMD ["python", "app.py"]
